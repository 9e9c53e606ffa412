"""Reading muon rings from ctapipe DL1 HDF5 files (what `ctapipe-process` writes with
`DataWriter.write_muon_parameters`; the reference pipeline's input).

`/dl1/event/telescope/muon/tel_NNN` holds one row per ring: `obs_id`, `event_id`, `tel_id` and
ctapipe's `muonring_*`, `muonparameters_*`, `muonefficiency_*` columns, with units in the
`CTAFIELD_<i>_UNIT` attributes. The ring's time is its event's: `/dl1/event/telescope/trigger`
(per telescope), else `/dl1/event/subarray/trigger`, joined on (obs_id, event_id). Times are
ctapipe's `ctao_high_res` (two uint32: TAI seconds since 1970 and quarter nanoseconds) or, in
older files, a float with `CTAFIELD_<i>_TIME_FORMAT`/`_TIME_SCALE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from calibd.handler_api import BadInput, check_mjd

__all__ = ["HDF5_SIGNATURE", "MAX_ROWS", "read_dl1_muons"]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: rings (or trigger rows) read from one file at most: a compressed table cannot blow up memory
MAX_ROWS = 5_000_000

_MUON_COLUMNS = (
    "obs_id",
    "event_id",
    "muonefficiency_optical_efficiency",
    "muonefficiency_impact",
    "muonefficiency_is_valid",
    "muonefficiency_parameters_at_limit",
)


def read_dl1_muons(path: str, tel_id: int) -> dict[str, np.ndarray]:
    """The rings of telescope `tel_id` in a ctapipe DL1 file, as `reader.COLUMNS`."""
    import tables

    name = Path(path).name
    try:
        with tables.open_file(path, mode="r") as h5:
            muons = _table(h5, f"/dl1/event/telescope/muon/tel_{tel_id:03d}", name)
            if muons is None:
                found = sorted(n._v_name for n in _children(h5, "/dl1/event/telescope/muon"))
                raise BadInput(
                    f"{name}: no muon table /dl1/event/telescope/muon/tel_{tel_id:03d} "
                    f"(tables: {', '.join(found) or 'none'})"
                )
            rings = _rows(muons, name)
            missing = [c for c in _MUON_COLUMNS if c not in rings.dtype.names]
            if missing:
                raise BadInput(f"{name}: muon table lacks columns {', '.join(missing)}")
            times = _event_times(h5, tel_id, name)
            impact_unit = _unit(muons, "impact", name)
    except BadInput:
        raise
    except Exception as exc:
        raise BadInput(f"{name}: cannot read DL1 HDF5 muon table: {exc}") from None
    keys = list(zip(rings["obs_id"].tolist(), rings["event_id"].tolist(), strict=True))
    absent = [k for k in keys if k not in times]
    if absent:
        raise BadInput(
            f"{name}: {len(absent)} of {len(keys)} rings have no trigger time "
            f"(e.g. obs_id {absent[0][0]} event_id {absent[0][1]})"
        )
    import astropy.units as u

    try:
        to_m = (1.0 * u.Unit(impact_unit)).to_value(u.m)
    except (ValueError, u.UnitConversionError):
        raise BadInput(
            f"{name}: muonefficiency_impact is in {impact_unit!r}, not a length"
        ) from None
    return {
        "time_mjd": check_mjd(name, "trigger time", np.array([times[k] for k in keys])),
        "efficiency": rings["muonefficiency_optical_efficiency"].astype(np.float64),
        "impact_m": rings["muonefficiency_impact"].astype(np.float64) * to_m,
        "fit_valid": rings["muonefficiency_is_valid"].astype(bool),
        "at_limit": rings["muonefficiency_parameters_at_limit"].astype(bool),
    }


def _children(h5: Any, where: str) -> list:
    try:
        return list(h5.get_node(where))
    except Exception:
        return []


def _table(h5: Any, where: str, name: str) -> Any:
    import tables

    try:
        node = h5.get_node(where)
    except tables.NoSuchNodeError:
        return None
    if not isinstance(node, tables.Table):
        raise BadInput(f"{name}: {where} is not a table")
    return node


def _rows(table: Any, name: str) -> np.ndarray:
    if table.nrows > MAX_ROWS:
        raise BadInput(f"{name}: {table._v_pathname} has {table.nrows} rows (limit {MAX_ROWS})")
    return table.read()


def _attrs_of(table: Any, column: str) -> dict[str, Any]:
    """The CTAFIELD_<i>_* attributes of the column ctapipe named `column` (without prefix)."""
    attrs = table.attrs
    names = attrs._v_attrnamesuser
    for key in names:
        if key.startswith("CTAFIELD_") and key.endswith("_NAME") and str(attrs[key]) == column:
            prefix = key[: -len("NAME")]
            return {k[len(prefix) :]: attrs[k] for k in names if k.startswith(prefix)}
    return {}


def _unit(table: Any, column: str, name: str) -> str:
    unit = _attrs_of(table, column).get("UNIT")
    if unit is None:
        raise BadInput(f"{name}: muonefficiency_impact has no unit attribute")
    return str(unit)


def _event_times(h5: Any, tel_id: int, name: str) -> dict[tuple[int, int], float]:
    """(obs_id, event_id) -> MJD (UTC) of the telescope's (else the array's) trigger."""
    table = _table(h5, "/dl1/event/telescope/trigger", name)
    rows = None
    if table is not None:
        rows = _rows(table, name)
        if "tel_id" in rows.dtype.names:
            rows = rows[rows["tel_id"] == tel_id]
        if len(rows) == 0:
            rows = None
    if rows is None:
        table = _table(h5, "/dl1/event/subarray/trigger", name)
        if table is None:
            raise BadInput(f"{name}: no trigger table (/dl1/event/telescope|subarray/trigger)")
        rows = _rows(table, name)
    for column in ("obs_id", "event_id", "time"):
        if column not in rows.dtype.names:
            raise BadInput(f"{name}: {table._v_pathname} lacks column {column}")
    mjd = _mjd(rows["time"], _attrs_of(table, "time"), name)
    keys = zip(rows["obs_id"].tolist(), rows["event_id"].tolist(), strict=True)
    return dict(zip(keys, mjd.tolist(), strict=True))


def _mjd(values: np.ndarray, attrs: dict[str, Any], name: str) -> np.ndarray:
    from astropy.time import Time

    fmt = str(attrs.get("TIME_FORMAT", "ctao_high_res" if values.ndim == 2 else "mjd"))
    scale = str(attrs.get("TIME_SCALE", "tai")).lower()
    try:
        if fmt == "ctao_high_res":
            if values.ndim != 2 or values.shape[1] != 2:
                raise ValueError("ctao_high_res needs two uint32 per time")
            seconds = values[:, 0].astype(np.float64)
            check_mjd(name, "trigger time", 40587.0 + seconds / 86400.0)  # before ERFA
            t = Time(seconds, values[:, 1] * 0.25e-9, format="unix_tai")
        else:
            floats = np.asarray(values, dtype=np.float64)
            t = Time(floats, format=fmt, scale=scale)
            check_mjd(name, "trigger time", t.mjd)
        return np.asarray(t.utc.mjd, dtype=np.float64)
    except BadInput:
        raise
    except Exception as exc:
        raise BadInput(f"{name}: trigger times ({fmt}, {scale}) unreadable: {exc}") from None
