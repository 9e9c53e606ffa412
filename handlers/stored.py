"""Reading numbers back from stored products, which may be missing.

A payload or summary value a handler declared missing (`ProductDraft.missing`) is stored as
null, and products from older versions may lack a key or hold null: a handler that reads a
stored product takes its numbers through `stored_number` and treats None as "no value".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["stored_number", "stored_numbers"]


def stored_number(section: Mapping[str, Any] | None, key: str) -> float | None:
    """`section[key]` as a finite float; None when absent, null, not a number or not finite."""
    value = (section or {}).get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def stored_numbers(section: Mapping[str, Any] | None, *keys: str) -> tuple[float, ...] | None:
    """All of `keys` as finite floats, or None when any of them has no value."""
    values = tuple(stored_number(section, key) for key in keys)
    return None if any(v is None for v in values) else values  # type: ignore[return-value]
