"""Reading ACADA DL0 FRAM monitoring files (`schemas/formats/fram_monitoring.md`): the input
of the FRAM aerosol calibration (`fram.aerosol_calibration`)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
from astropy.time import Time, TimeDelta
from calibd.handlers.aerosol.sites import offline_iers
from calibd.handlers.columns import numeric_column

from calibd.handler_api import BadInput, check_mjd

__all__ = ["REQUIRED_COLUMNS", "read_fram_file"]

offline_iers()

REQUIRED_COLUMNS = ("timestamp", "ra", "dec", "aod", "aod_err", "peak_wavelength")
# FITS TIMESYS -> astropy scale and an offset in seconds to reach that scale (GPS = TAI - 19 s)
_TIMESYS = {
    "UTC": ("utc", 0.0),
    "TT": ("tt", 0.0),
    "TDT": ("tt", 0.0),
    "ET": ("tt", 0.0),
    "TAI": ("tai", 0.0),
    "IAT": ("tai", 0.0),
    "GPS": ("tai", 19.0),
    "TDB": ("tdb", 0.0),
    "TCG": ("tcg", 0.0),
    "TCB": ("tcb", 0.0),
    "UT1": ("ut1", 0.0),
}


def _keyword(headers: list, key: str, default: Any = None) -> Any:
    for header in headers:
        if key in header:
            return header[key]
    return default


def _mjdref(name: str, headers: list) -> tuple[float, float]:
    """(integer, fractional) MJD of the time reference (MJDREF, MJDREFI/F or JDREF)."""
    if _keyword(headers, "MJDREFI") is not None:
        return float(_keyword(headers, "MJDREFI")), float(_keyword(headers, "MJDREFF", 0.0))
    if _keyword(headers, "MJDREF") is not None:
        ref = float(_keyword(headers, "MJDREF"))
        return float(np.floor(ref)), ref - np.floor(ref)
    if _keyword(headers, "JDREF") is not None:
        ref = float(_keyword(headers, "JDREF")) - 2400000.5
        return float(np.floor(ref)), ref - np.floor(ref)
    raise BadInput(f"{name}: no time reference: MJDREF (or MJDREFI/MJDREFF, JDREF) missing")


def _elapsed_to_mjd(
    name: str, values: np.ndarray, unit: u.UnitBase, headers: list, what: str
) -> np.ndarray:
    """Elapsed time since the FITS reference (MJDREF, TIMESYS, TIMEZERO) -> MJD (UTC)."""
    timesys = str(_keyword(headers, "TIMESYS", "UTC")).strip().upper()  # FITS default: UTC
    if timesys not in _TIMESYS:
        raise BadInput(f"{name}: TIMESYS {timesys!r} not supported (UTC, TT, TAI, GPS, TDB...)")
    scale, offset_s = _TIMESYS[timesys]
    try:
        seconds = (values * unit).to_value(u.s)
        timezero = float(_keyword(headers, "TIMEZERO", 0.0))
        timezero_s = (timezero * _header_unit(name, headers)).to_value(u.s)
    except (u.UnitsError, ValueError, TypeError) as exc:
        raise BadInput(f"{name}: {what} is not a time ({exc})") from None
    ref_i, ref_f = _mjdref(name, headers)
    elapsed = seconds + timezero_s + offset_s
    # inside the epoch before astropy/ERFA see it (they fail on a time of 1e12 MJD)
    check_mjd(name, what, ref_i + ref_f + elapsed / 86400.0)
    ref = Time(ref_i, ref_f, format="mjd", scale=scale)
    t = ref + TimeDelta(elapsed, format="sec")
    return np.asarray(t.utc.mjd, dtype=np.float64)


def _bound_mjd(name: str, key: str, value: Any, headers: list) -> float:
    """TSTART/TSTOP -> MJD (UTC): elapsed time since MJDREF (the FITS standard), or an ISO
    datetime in TIMESYS (ctao-datamodel allows both; ctapipe-mon-acada writes the latter)."""
    try:
        elapsed = np.array([float(value)])
    except (TypeError, ValueError):
        pass
    else:
        return _elapsed_to_mjd(name, elapsed, _header_unit(name, headers), headers, key)[0]
    timesys = str(_keyword(headers, "TIMESYS", "UTC")).strip().upper()
    if timesys not in _TIMESYS:
        raise BadInput(f"{name}: TIMESYS {timesys!r} not supported (UTC, TT, TAI, GPS, TDB...)")
    scale, offset_s = _TIMESYS[timesys]
    try:
        t = Time(str(value).strip(), format="fits", scale=scale)
    except ValueError:
        raise BadInput(
            f"{name}: {key} is neither elapsed time nor an ISO datetime: {value!r}"
        ) from None
    check_mjd(name, key, np.array([t.mjd]))
    return float((t + TimeDelta(offset_s, format="sec")).utc.mjd)


def _header_unit(name: str, headers: list) -> u.UnitBase:
    value = str(_keyword(headers, "TIMEUNIT", "s")).strip()  # FITS default: s
    try:
        return u.Unit(value)
    except ValueError:
        raise BadInput(f"{name}: TIMEUNIT {value!r} is not a unit") from None


def _float_values(name: str, key: str, column: Any) -> np.ndarray:
    """Plain float64 values of a numeric one-value-per-row column; masked entries become NaN."""
    mask = np.asarray(getattr(column, "mask", False))
    values = numeric_column(name, key, column).astype(np.float64)
    return np.where(mask, np.nan, values) if mask.any() else values


def _with_unit(name: str, table: Any, column: str, target: u.UnitBase, kind: str) -> np.ndarray:
    unit = getattr(table[column], "unit", None)
    if unit is None or unit == u.dimensionless_unscaled:
        raise BadInput(f"{name}: column {column} has missing units (need {kind}, e.g. {target})")
    try:
        factor = (1.0 * unit).to_value(target)
    except u.UnitConversionError:
        raise BadInput(f"{name}: column {column} is in {unit}, not {kind}") from None
    return _float_values(name, column, table[column]) * factor


def _dimensionless(name: str, table: Any, column: str) -> np.ndarray:
    unit = getattr(table[column], "unit", None)
    if unit is not None and unit != u.dimensionless_unscaled:
        raise BadInput(f"{name}: column {column} is in {unit}, expected no unit")
    return _float_values(name, column, table[column])


def _int_values(table: Any, column: str) -> np.ndarray:
    if column not in table.colnames:
        return np.full(len(table), -1, dtype=np.int64)
    col = table[column]
    values = np.asarray(col.filled(-1) if hasattr(col, "filled") else col)
    try:
        return values.astype(np.int64)
    except (TypeError, ValueError):
        return values.astype(str)


def _truncation(caught: list) -> str | None:
    for warning in caught:
        if "truncated" in str(warning.message).lower():
            return f"file is truncated ({warning.message})"
    return None


def read_fram_file(path: str | Path) -> dict[str, np.ndarray]:
    """One ACADA DL0 FRAM monitoring file -> arrays (MJD UTC, deg, nm).

    The table is the binary-table HDU with EXTNAME `FRAM`, or else the first binary table.
    `DATATYPE` (table header, else primary header) must be FRAM. `timestamp` is elapsed time
    since MJDREF (MJDREFI/F or JDREF) in TIMESYS, unit TUNIT or TIMEUNIT (FITS default s), plus
    TIMEZERO, counted in SI seconds (leap seconds included, like astropy's FITS time reader);
    a column astropy already decodes as Time is used as it is. ra/dec need an angle
    unit and peak_wavelength a length unit (converted); aod and aod_err are dimensionless.
    zero_point, img_id and observation_id are optional (NaN / -1). Also returned: `tstart_mjd`,
    `tstop_mjd` (TSTART/TSTOP as elapsed time or ISO datetime in TIMESYS, else the first/last
    timestamp) and `assembly` (e.g. FRAM-N1; 1-element arrays).
    Any problem -> BadInput naming the file.
    """
    from astropy.io import fits
    from astropy.table import QTable

    name = Path(path).name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, memmap=False) as hdul:
                tables = [h for h in hdul if isinstance(h, fits.BinTableHDU)]
                if not tables:
                    raise BadInput(f"{name}: no binary table HDU")
                named = [h for h in tables if h.name.upper() == "FRAM"]
                hdu = (named or tables)[0]
                headers = [hdu.header, hdul[0].header]
                # astropy decodes time columns itself, but knows no GPS time scale (a FITS
                # one): those files' columns are converted here (_elapsed_to_mjd) instead
                native = str(_keyword(headers, "TIMESYS", "UTC")).strip().upper() != "GPS"
                table = QTable.read(hdu, astropy_native=native)
        except BadInput:
            raise
        except Exception as exc:
            problem = _truncation(caught) or f"cannot read FITS table: {exc}"
            raise BadInput(f"{name}: {problem}") from None
    problem = _truncation(caught)
    if problem:
        raise BadInput(f"{name}: {problem}")

    datatype = str(_keyword(headers, "DATATYPE", "")).strip()
    if datatype.upper() != "FRAM":
        raise BadInput(f"{name}: DATATYPE is {datatype or 'missing'!r}, expected FRAM")
    missing = [c for c in REQUIRED_COLUMNS if c not in table.colnames]
    if missing:
        raise BadInput(f"{name}: table {hdu.name or '#1'} missing columns {', '.join(missing)}")
    if len(table) == 0:
        raise BadInput(f"{name}: empty table, no FRAM measurements")

    column = table["timestamp"]
    if isinstance(column, Time):
        if column.ndim != 1:
            raise BadInput(f"{name}: column timestamp must be one value per row")
        check_mjd(name, "column timestamp", column.mjd)  # before ERFA converts the scale
        time_mjd = np.asarray(column.utc.mjd, dtype=np.float64)
    else:
        if np.ndim(column) != 1:
            raise BadInput(f"{name}: column timestamp must be one value per row")
        unit = getattr(column, "unit", None)
        if unit is None or unit == u.dimensionless_unscaled:
            unit = _header_unit(name, headers)
        seconds = _float_values(name, "timestamp", column)
        time_mjd = _elapsed_to_mjd(name, seconds, unit, headers, "column timestamp")

    tstart, tstop = (_keyword(headers, key) for key in ("TSTART", "TSTOP"))
    bounds = []
    for key, value, fallback in (
        ("TSTART", tstart, np.nanmin(time_mjd)),
        ("TSTOP", tstop, np.nanmax(time_mjd)),
    ):
        bounds.append(fallback if value is None else _bound_mjd(name, key, value, headers))

    return {
        "time_mjd": time_mjd,
        "ra_deg": _with_unit(name, table, "ra", u.deg, "an angle"),
        "dec_deg": _with_unit(name, table, "dec", u.deg, "an angle"),
        "aod": _dimensionless(name, table, "aod"),
        "aod_err": _dimensionless(name, table, "aod_err"),
        "peak_wavelength_nm": _with_unit(name, table, "peak_wavelength", u.nm, "a length"),
        "zero_point": (
            _float_values(name, "zero_point", table["zero_point"])
            if "zero_point" in table.colnames
            else np.full(len(table), np.nan)
        ),
        "img_id": _int_values(table, "img_id"),
        "observation_id": _int_values(table, "observation_id"),
        "tstart_mjd": np.array([bounds[0]], dtype=np.float64),
        "tstop_mjd": np.array([bounds[1]], dtype=np.float64),
        "assembly": np.array([str(_keyword(headers, "ASSEMBLY", ""))]),
    }
