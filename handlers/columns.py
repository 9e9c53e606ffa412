"""Small helpers the handlers share: UTC datetimes as MJD, and measurement columns gathered
from inline message items and from files."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

__all__ = ["from_mjd", "item_columns", "merge_columns", "to_mjd"]

_UNIX_EPOCH_MJD = 40587.0


def to_mjd(dt: datetime) -> float:
    """MJD (UTC, 86,400 s days) of an aware datetime."""
    return dt.timestamp() / 86400.0 + _UNIX_EPOCH_MJD


def from_mjd(mjd: float) -> datetime:
    """Inverse of `to_mjd`."""
    return datetime.fromtimestamp((mjd - _UNIX_EPOCH_MJD) * 86400.0, UTC)


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
