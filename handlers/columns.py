"""Small helpers the handlers share: UTC datetimes as MJD, measurement columns gathered
from inline message items and from files, and the checks of a file's numeric columns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from calibd.handler_api import BadInput, check_mjd

__all__ = ["from_mjd", "item_columns", "merge_columns", "mjd_column", "numeric_column", "to_mjd"]

_UNIX_EPOCH_MJD = 40587.0


def to_mjd(dt: datetime) -> float:
    """MJD (UTC, 86,400 s days) of an aware datetime."""
    return dt.timestamp() / 86400.0 + _UNIX_EPOCH_MJD


def from_mjd(mjd: float) -> datetime:
    """Inverse of `to_mjd`."""
    return datetime.fromtimestamp((mjd - _UNIX_EPOCH_MJD) * 86400.0, UTC)


def numeric_column(name: str, column: str, values: Any) -> np.ndarray:
    """A file's column as it is (masked and Quantity columns unwrapped to their values), after
    checking it holds one number per row; BadInput naming file and column otherwise."""
    raw = getattr(values, "unmasked", values)
    array = np.asarray(getattr(raw, "value", raw))
    if array.ndim != 1:
        raise BadInput(
            f"{name}: column {column} has shape {array.shape}, expected one value per row"
        )
    if array.dtype.kind not in "biuf":
        raise BadInput(f"{name}: column {column} holds {array.dtype} values, expected numbers")
    return array


def mjd_column(name: str, column: str, values: Any) -> np.ndarray:
    """A file's MJD column as float64: one number per row, inside calibd's epoch."""
    return check_mjd(name, f"column {column}", numeric_column(name, column, values))


def item_columns(items: Iterable[Any], attributes: Mapping[str, str]) -> dict[str, list]:
    """{column: [item.<attribute> for each item]}; datetimes become MJD."""
    items = list(items)
    return {
        column: [
            to_mjd(v) if isinstance(v, datetime) else v for v in (getattr(i, a) for i in items)
        ]
        for column, a in attributes.items()
    }


def merge_columns(
    parts: list[Mapping[str, Any]], columns: Iterable[str], dtypes: Mapping[str, Any] | None = None
) -> dict[str, np.ndarray]:
    """Concatenate the named columns of every part (files first, then inline items)."""
    dtypes = dtypes or {}
    return {
        c: np.concatenate([np.asarray(p[c], dtype=dtypes.get(c)) for p in parts]) for c in columns
    }
