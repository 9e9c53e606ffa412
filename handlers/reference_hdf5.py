"""Tables in the layout ctapipe's `write_table` gives them, written with PyTables only (calibd's
runtime imports neither ctapipe nor calibpipe): the reference calibration pipeline
(ctao-calibpipe 0.8) writes its products so, and ctapipe's `read_table` reads them back.

ctapipe's conventions (ctapipe.io.astropy_helpers.write_table, checked against files written by
calibpipe 0.8 itself, notes/calibpipe-hdf5.md): a time column is `uint32 (2,)` "ctao_high_res"
(TAI seconds since 1970-01-01 TAI, quarter nanoseconds) with the attributes
`CTAFIELD_<i>_TRANSFORM = "time"`, `_TIME_FORMAT`, `_TIME_SCALE = "tai"`; a string column is
UTF-8 bytes `S<n>` (n the longest value) with `_TRANSFORM = "string"`, `_MAXLEN = n`; a column
with a unit has `_TRANSFORM = "quantity"`, `_UNIT` (VOUnit text, "" for dimensionless). `i` is
the column's position in the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import tables
from astropy.time import Time

__all__ = ["Column", "high_res_times", "write_reference_table"]

_EPOCH = Time(0, format="unix_tai", scale="tai")  # 1970-01-01T00:00:00 TAI
_QNS_PER_S = 4_000_000_000


@dataclass(frozen=True)
class Column:
    """One column: its values (one per row) and how ctapipe marks it."""

    values: np.ndarray
    kind: str = "plain"  # "plain", "time" (ctao_high_res pairs), "string", "quantity"
    unit: str = ""  # for "quantity": VOUnit text, "" for dimensionless


def high_res_times(t: Time) -> np.ndarray:
    """(n, 2) uint32 ctao_high_res pairs of times (any scale), as ctapipe encodes them."""
    tai = Time(t, copy=False).tai
    days = np.round((tai.jd1 - _EPOCH.jd1) + (tai.jd2 - _EPOCH.jd2))
    rest_s = ((tai.jd1 - _EPOCH.jd1 - days) + (tai.jd2 - _EPOCH.jd2)) * 86400.0
    whole = np.floor(rest_s)
    qns = np.round((rest_s - whole) * _QNS_PER_S)
    carry = qns >= _QNS_PER_S
    whole, qns = whole + carry, np.where(carry, qns - _QNS_PER_S, qns)
    seconds = days.astype(np.int64) * 86400 + whole.astype(np.int64)
    if np.any(seconds < 0) or np.any(seconds >= 2**32):
        raise ValueError("time outside the ctao_high_res range (1970 to 2106 TAI)")
    return np.stack([seconds, qns.astype(np.int64)], axis=-1).reshape(-1, 2).astype(np.uint32)


def _array(col: Column) -> np.ndarray:
    if col.kind == "string":
        encoded = [str(s).encode("utf-8") for s in np.atleast_1d(col.values)]
        return np.array(encoded, dtype=f"S{max(1, *(len(b) for b in encoded))}")
    return np.asarray(col.values)


def write_reference_table(
    h5: tables.File,
    path: str,
    columns: Mapping[str, Column],
    attrs: Mapping[str, Any] | None = None,
) -> tables.Table:
    """Table `path` (parents created) with `columns` in order, ctapipe's column attributes and
    `attrs` (table metadata, as ctapipe writes an astropy table's `meta`)."""
    arrays = {name: _array(col) for name, col in columns.items()}
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) != 1:
        raise ValueError(f"{path}: columns of different lengths {sorted(lengths)}")
    dtype = np.dtype([(name, a.dtype, a.shape[1:]) for name, a in arrays.items()])
    record = np.empty(lengths.pop(), dtype=dtype)
    for name, a in arrays.items():
        record[name] = a
    where, _, leaf = path.rpartition("/")
    table = h5.create_table(where or "/", leaf, obj=record, createparents=True)
    for pos, (name, col) in enumerate(columns.items()):
        if col.kind == "time":
            table.attrs[f"CTAFIELD_{pos}_TIME_FORMAT"] = "ctao_high_res"
            table.attrs[f"CTAFIELD_{pos}_TIME_SCALE"] = "tai"
            table.attrs[f"CTAFIELD_{pos}_TRANSFORM"] = "time"
        elif col.kind == "string":
            table.attrs[f"CTAFIELD_{pos}_MAXLEN"] = np.int64(arrays[name].dtype.itemsize)
            table.attrs[f"CTAFIELD_{pos}_TRANSFORM"] = "string"
        elif col.kind == "quantity":
            table.attrs[f"CTAFIELD_{pos}_TRANSFORM"] = "quantity"
            table.attrs[f"CTAFIELD_{pos}_UNIT"] = col.unit
        elif col.kind != "plain":
            raise ValueError(f"{path}: column {name} of unknown kind {col.kind!r}")
    for key, value in (attrs or {}).items():
        table.attrs[key] = value
    return table
