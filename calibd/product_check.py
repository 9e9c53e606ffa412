"""The check every product passes before commit: every number finite, or declared missing.

A NaN or an infinity in a product's payload, summary or arrays is stored as null (JSON) or
kept in the arrays, and then read back by other handlers as if it were a value; one NaN
`vaod` made every later FRAM-down fallback fail. So a product may hold a non-finite number
only at a field path its handler declares in `ProductDraft.missing` (a value not measured,
e.g. the statistics of an unusable pixel); any other one makes the message a dead letter
(reason `invalid_product`) naming the field path. Paths: `payload.vaod`, `summary.stats[2]`,
`arrays.tau`; a declared path covers the paths below it (`arrays` covers every array).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from calibd.errors import InvalidProduct

__all__ = ["check_product", "non_finite"]


def _declared(path: str, missing: Iterable[str]) -> bool:
    return any(path == m or path.startswith((f"{m}.", f"{m}[")) for m in missing)


def _describe(values: np.ndarray) -> str:
    bad = values[~np.isfinite(values)]
    return f"{bad.size} of {values.size} values are NaN or infinite (e.g. {bad.flat[0]})"


def non_finite(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, problem) for every non-finite number in a JSON-like value or numpy array."""
    if isinstance(value, bool | int | str) or value is None:
        return
    if isinstance(value, float | np.floating | np.complexfloating):
        if not np.isfinite(value):
            yield path, f"{value} is not a finite number"
    elif isinstance(value, np.ndarray):
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            yield path, _describe(value)
        elif value.dtype.kind == "O":
            for i, item in enumerate(value.flat):
                yield from non_finite(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from non_finite(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        if all(isinstance(v, float) for v in value) and all(map(math.isfinite, value)):
            return  # the common case, a long list of finite floats, in one pass
        for i, item in enumerate(value):
            yield from non_finite(item, f"{path}[{i}]")


def check_product(draft: Any) -> None:
    """InvalidProduct naming the first undeclared non-finite number of a ProductDraft."""
    sections = {"payload": draft.payload, "summary": draft.summary, "arrays": draft.arrays}
    for section, content in sections.items():
        for path, problem in non_finite(content, section):
            if not _declared(path, draft.missing):
                raise InvalidProduct(
                    f"{draft.product_type} product: {path}: {problem}; a handler must declare "
                    "missing values (ProductDraft.missing) or refuse the input"
                )
