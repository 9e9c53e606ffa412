"""Camera calibration in ctapipe's monitoring HDF5 layout: the file that
`ctapipe-process --monitoring-source HDF5MonitoringSource
--HDF5MonitoringSource.input_files=F` applies and QualPipe reads through the same source
(ctapipe 0.28; layout verified in notes/dl0-format.md section 7 and by the tests, which read
it with ctapipe). Written with PyTables only.

Per telescope NNN (one file may hold several):

    /dl1/monitoring/telescope/calibration/camera/coefficients/tel_NNN
        time             uint32 (2,)  validity start, ctao_high_res: TAI s since 1970 + qns
        factor           float32 (n_gains, n_pixels)  charge -> p.e.
        pedestal_offset  float32 (n_gains, n_pixels)  per sample, subtracted from waveforms
        time_shift       float32 (n_gains, n_pixels)  NANOSECONDS, +(t_pixel - t_median)
        outlier_mask     bool    (n_gains, n_pixels)  HDF5 bool (PyTables BoolCol)
        is_valid         bool
    .../camera/pixel_statistics/<event_type>_<column>/tel_NNN   (pedestal_image,
        flatfield_image, flatfield_peak_time, sky_pedestal_image, ...): time_start, time_end,
        [event_id_start, event_id_end,] mean, median, std (float64), n_events (int64),
        outlier_mask (bool), is_valid
    /configuration/instrument      exactly these telescopes (hdf5_configuration)
    /configuration/observation/observation_block   given, or one row per reference obs_id
    root attributes                ctapipe's `CTA ...` reference metadata

ctapipe applies the row with the latest `time` <= the event's TAI time (the last row after
the end; a time before the first row raises). It compares TAI MJDs without converting
scales, so event times must be TAI. The calibd `time_shift` in samples is divided by the
camera's sampling rate (GHz); `outlier_mask` reason bits become True where non-zero, and a
non-finite coefficient is flagged too (its value is kept, NaN stays NaN).
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tables
from astropy.time import Time
from calibd.handlers.camera.hdf5_configuration import (
    DATA_MODEL_VERSION,
    CameraInfo,
    ObservationBlock,
    ReferenceInfo,
    copy_instrument,
    reference_metadata,
    write_observation_blocks,
)

__all__ = [
    "COEFFICIENTS_GROUP",
    "DATA_MODEL_VERSION",
    "PIXEL_STATISTICS_GROUP",
    "STATISTICS_NAMES",
    "CameraMonitoringSeries",
    "CoefficientRow",
    "ObservationBlock",
    "ReferenceInfo",
    "StatisticsRow",
    "TimeLike",
    "reference_metadata",
    "tai_high_res",
    "write_monitoring_hdf5",
]

COEFFICIENTS_GROUP = "/dl1/monitoring/telescope/calibration/camera/coefficients"
PIXEL_STATISTICS_GROUP = "/dl1/monitoring/telescope/calibration/camera/pixel_statistics"
#: what ctapipe maps a pixel_statistics group to (a name must end with one of them)
STATISTICS_NAMES = ("pedestal_image", "flatfield_image", "flatfield_peak_time")
_FILTERS = tables.Filters(complevel=5, complib="blosc:zstd", fletcher32=True)
_EPOCH = Time(0, format="unix_tai")  # 1970-01-01T00:00:00 TAI
_QNS_PER_S = 4_000_000_000

#: a TAI time: astropy Time (any scale) or (TAI seconds since 1970-01-01 TAI, quarter ns)
TimeLike = Time | tuple[int, int]


def tai_high_res(t: TimeLike) -> tuple[int, int]:
    """(TAI seconds since 1970-01-01 TAI, quarter nanoseconds) of a time."""
    if not isinstance(t, Time):
        s, qns = (int(v) for v in t)
        if not (0 <= s < 2**32 and 0 <= qns < _QNS_PER_S):
            raise ValueError(f"TAI time {t} out of range (uint32 seconds, qns < 4e9)")
        return s, qns
    if not t.isscalar:
        raise ValueError("one time at a time")
    tai = t.tai
    days = round((tai.jd1 - _EPOCH.jd1) + (tai.jd2 - _EPOCH.jd2))
    rest_s = ((tai.jd1 - _EPOCH.jd1 - days) + (tai.jd2 - _EPOCH.jd2)) * 86400.0
    whole = int(np.floor(rest_s))
    qns = round((rest_s - whole) * _QNS_PER_S)
    if qns >= _QNS_PER_S:
        whole, qns = whole + 1, qns - _QNS_PER_S
    return tai_high_res((days * 86400 + whole, qns))


@dataclass(frozen=True)
class CoefficientRow:
    """Camera calibration coefficients valid from `time` (TAI) until the next row.

    Arrays are (n_gains, n_pixels), as `ffactor.calibration_coefficients` makes them:
    `factor` (p.e. per charge unit), `pedestal_offset` (per sample), `time_shift` (SAMPLES,
    converted to ns on writing), `outlier_mask` (reason bits or bool; non-zero = outlier).
    """

    time: TimeLike
    factor: np.ndarray
    pedestal_offset: np.ndarray
    time_shift: np.ndarray
    outlier_mask: np.ndarray
    is_valid: bool = True

    @classmethod
    def from_calibration(
        cls, time: TimeLike, result: Mapping[str, Any], applied: bool = False
    ) -> CoefficientRow:
        """The row of a `ffactor.calibration_coefficients` result: its `factor` and
        `time_shift` (NaN where undefined), or with `applied` the `*_applied` ones (the camera
        median of the gain for unusable pixels)."""
        suffix = "_applied" if applied else ""
        return cls(
            time=time,
            factor=np.asarray(result[f"factor{suffix}"]),
            pedestal_offset=np.asarray(result["pedestal_offset"]),
            time_shift=np.asarray(result[f"time_shift{suffix}"]),
            outlier_mask=np.asarray(result["outlier_mask"]),
            is_valid=bool(result["is_valid"]),
        )


@dataclass(frozen=True)
class StatisticsRow:
    """Pixel statistics of one chunk of events [time_start, time_end] (TAI); arrays
    (n_gains, n_pixels). ctapipe sets mean/median/std to NaN where `outlier_mask` is set."""

    time_start: TimeLike
    time_end: TimeLike
    mean: np.ndarray
    median: np.ndarray
    std: np.ndarray
    n_events: np.ndarray
    outlier_mask: np.ndarray
    is_valid: bool = True
    event_id_start: int | None = None
    event_id_end: int | None = None

    @classmethod
    def from_stats(
        cls, time_start: TimeLike, time_end: TimeLike, stats: Mapping[str, Any], **kw: Any
    ) -> StatisticsRow:
        """The row of a `stats.StreamingStats.result()`; `outlier_mask` defaults to the
        pixels without a finite median."""
        median = np.asarray(stats["median"], dtype=np.float64)
        kw.setdefault("outlier_mask", ~np.isfinite(median))
        return cls(
            time_start=time_start,
            time_end=time_end,
            mean=np.asarray(stats["mean"]),
            median=median,
            std=np.asarray(stats["std"]),
            n_events=np.asarray(stats["n_events"]),
            **kw,
        )


@dataclass(frozen=True)
class CameraMonitoringSeries:
    """One telescope's time series: coefficient rows sorted by validity start, and pixel
    statistics rows per name (`pedestal_image`, `flatfield_image`, `flatfield_peak_time`,
    or e.g. `sky_pedestal_image`: <event_type>_<column>)."""

    tel_id: int
    coefficients: Sequence[CoefficientRow]
    pixel_statistics: Mapping[str, Sequence[StatisticsRow]] = field(default_factory=dict)


def _time_attrs(table: tables.Table, columns: Sequence[str]) -> None:
    """The attributes ctapipe's writer sets on a ctao_high_res time column."""
    for col in columns:
        i = table.colnames.index(col)
        table.attrs[f"CTAFIELD_{i}_TRANSFORM"] = "time"
        table.attrs[f"CTAFIELD_{i}_TIME_FORMAT"] = "ctao_high_res"
        table.attrs[f"CTAFIELD_{i}_TIME_SCALE"] = "tai"


def _write_table(
    h5: tables.File, path: str, columns: dict[str, tables.Col], rows: dict[str, np.ndarray]
) -> tables.Table:
    where, _, leaf = path.rpartition("/")
    n = len(next(iter(rows.values())))
    table = h5.create_table(
        where, leaf, description=columns, filters=_FILTERS, createparents=True, expectedrows=n
    )
    record = np.empty(n, dtype=table.description._v_dtype)
    for name in table.colnames:
        record[name] = rows[name]
    table.append(record)
    return table


def _shape(series: CameraMonitoringSeries, camera: CameraInfo) -> tuple[int, int]:
    """The one (n_gains, n_pixels) of a series: the camera's readout channels and pixels
    (ctapipe indexes the coefficients by the gain a DL0 pixel was read in; ctapipe-io-zfits
    0.5 says 1 = low for every gain-selected pixel, so one-gain arrays make it fail)."""
    if not series.coefficients:
        raise ValueError(f"tel {series.tel_id}: no coefficient rows")
    shapes = {np.shape(a) for r in series.coefficients for a in _arrays(r)}
    for rows in series.pixel_statistics.values():
        shapes |= {np.shape(a) for r in rows for a in (r.mean, r.median, r.std, r.outlier_mask)}
    if len(shapes) != 1:
        raise ValueError(f"tel {series.tel_id}: arrays of different shapes {sorted(shapes)}")
    (shape,) = shapes
    if shape != (camera.n_channels, camera.n_pixels):
        raise ValueError(
            f"tel {series.tel_id}: arrays {shape} are not ({camera.n_channels}, "
            f"{camera.n_pixels}): {camera.camera_name}'s gains and pixels"
        )
    return shape


def _arrays(r: CoefficientRow) -> tuple[np.ndarray, ...]:
    return (r.factor, r.pedestal_offset, r.time_shift, r.outlier_mask)


def _ticks(times: np.ndarray) -> np.ndarray:
    """Quarter nanoseconds since 1970 TAI of ctao_high_res pairs (exact in int64)."""
    return times[:, 0].astype(np.int64) * _QNS_PER_S + times[:, 1]


def _coefficients(
    h5: tables.File, series: CameraMonitoringSeries, shape: tuple[int, int], rate_ghz: float
) -> None:
    rows = series.coefficients
    times = np.array([tai_high_res(r.time) for r in rows], dtype=np.uint32)
    if np.any(np.diff(_ticks(times)) <= 0):
        raise ValueError(f"tel {series.tel_id}: validity starts must be strictly increasing")
    factor = np.array([r.factor for r in rows], dtype=np.float32)
    pedestal = np.array([r.pedestal_offset for r in rows], dtype=np.float32)
    shift_ns = np.array([r.time_shift for r in rows], dtype=np.float64) / rate_ghz
    shift_ns = shift_ns.astype(np.float32)
    outliers = np.array([np.asarray(r.outlier_mask) != 0 for r in rows])
    outliers |= ~(np.isfinite(factor) & np.isfinite(pedestal) & np.isfinite(shift_ns))
    columns = {
        "time": tables.UInt32Col(shape=(2,), pos=0),
        "factor": tables.Float32Col(shape=shape, pos=1),
        "pedestal_offset": tables.Float32Col(shape=shape, pos=2),
        "time_shift": tables.Float32Col(shape=shape, pos=3),
        "outlier_mask": tables.BoolCol(shape=shape, pos=4),
        "is_valid": tables.BoolCol(pos=5),
    }
    data = {
        "time": times,
        "factor": factor,
        "pedestal_offset": pedestal,
        "time_shift": shift_ns,
        "outlier_mask": outliers,
        "is_valid": np.array([bool(r.is_valid) for r in rows]),
    }
    table = _write_table(h5, f"{COEFFICIENTS_GROUP}/tel_{series.tel_id:03d}", columns, data)
    _time_attrs(table, ["time"])


def _statistics(
    h5: tables.File, tel_id: int, name: str, rows: Sequence[StatisticsRow], shape: tuple
) -> None:
    if not rows:
        raise ValueError(f"tel {tel_id}: no {name} rows")
    columns: dict[str, tables.Col] = {
        "time_start": tables.UInt32Col(shape=(2,), pos=0),
        "time_end": tables.UInt32Col(shape=(2,), pos=1),
    }
    data: dict[str, Any] = {
        "time_start": np.array([tai_high_res(r.time_start) for r in rows], dtype=np.uint32),
        "time_end": np.array([tai_high_res(r.time_end) for r in rows], dtype=np.uint32),
    }
    start, end = (_ticks(data[k]) for k in ("time_start", "time_end"))
    if np.any(np.diff(start) <= 0) or np.any(end < start):
        raise ValueError(f"tel {tel_id}: {name}: chunks must be increasing, start <= end")
    with_ids = [r.event_id_start is not None and r.event_id_end is not None for r in rows]
    if all(with_ids):
        columns["event_id_start"] = tables.Int64Col(pos=2)
        columns["event_id_end"] = tables.Int64Col(pos=3)
        data["event_id_start"] = [r.event_id_start for r in rows]
        data["event_id_end"] = [r.event_id_end for r in rows]
    elif any(with_ids):
        raise ValueError(f"tel {tel_id}: {name}: event ids on some rows only")
    for i, key in enumerate(("mean", "median", "std"), start=4):
        columns[key] = tables.Float64Col(shape=shape, pos=i)
        data[key] = np.array([getattr(r, key) for r in rows], dtype=np.float64)
    columns["n_events"] = tables.Int64Col(shape=shape, pos=7)
    columns["outlier_mask"] = tables.BoolCol(shape=shape, pos=8)
    columns["is_valid"] = tables.BoolCol(pos=9)
    data["n_events"] = np.array([np.broadcast_to(r.n_events, shape) for r in rows])
    data["outlier_mask"] = np.array([np.asarray(r.outlier_mask) != 0 for r in rows])
    data["is_valid"] = [bool(r.is_valid) for r in rows]
    table = _write_table(h5, f"{PIXEL_STATISTICS_GROUP}/{name}/tel_{tel_id:03d}", columns, data)
    _time_attrs(table, ["time_start", "time_end"])


def _check_statistics_names(series: Sequence[CameraMonitoringSeries]) -> None:
    names = {frozenset(s.pixel_statistics) for s in series}
    if len(names) > 1:
        raise ValueError("every telescope needs the same pixel statistics (ctapipe reads each)")
    for name in next(iter(names)):
        if not name.endswith(STATISTICS_NAMES) or not name.replace("_", "").isalnum():
            raise ValueError(f"pixel statistics {name!r} is not <event_type>_{STATISTICS_NAMES}")


def write_monitoring_hdf5(
    path: str | Path,
    series: Sequence[CameraMonitoringSeries],
    instrument_file: str | Path,
    *,
    sampling_rate_ghz: float | Mapping[int, float] | None = None,
    reference: ReferenceInfo | None = None,
    observation_blocks: Sequence[ObservationBlock] = (),
    subarray_name: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write `series` (one per telescope) to a new monitoring HDF5 file at `path`.

    `instrument_file` is a ctapipe HDF5 file holding `/configuration/instrument`, copied for
    exactly these telescopes. `sampling_rate_ghz` (per telescope or one for all) converts
    `time_shift` from samples to ns; None takes the camera readout's SAMPFREQ from the
    instrument description. `observation_blocks` default to one per `reference.obs_ids`
    (ids only): ctapipe's HDF5Merger (ctapipe-merge, QualPipe writing to a new file) refuses
    a file without them. Raises ValueError on inconsistent input (no file is left then).
    """
    path = Path(path)
    if not series:
        raise ValueError("no telescope series")
    tel_ids = [int(s.tel_id) for s in series]
    if len(set(tel_ids)) != len(tel_ids):
        raise ValueError(f"telescope ids repeated: {tel_ids}")
    _check_statistics_names(series)
    if path.exists() and not overwrite:
        raise FileExistsError(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tables.open_file(tmp, mode="w") as h5:
            cameras = copy_instrument(str(instrument_file), h5, tel_ids, subarray_name)
            for s in series:
                camera = cameras[int(s.tel_id)]
                rate = sampling_rate_ghz
                if isinstance(rate, Mapping):
                    rate = rate[int(s.tel_id)]
                rate = camera.sampling_rate_ghz if rate is None else float(rate)
                if not rate > 0:
                    raise ValueError(f"tel {s.tel_id}: sampling rate {rate} GHz")
                shape = _shape(s, camera)
                _coefficients(h5, s, shape, rate)
                for name, rows in sorted(s.pixel_statistics.items()):
                    _statistics(h5, int(s.tel_id), name, rows, shape)
            reference = reference or ReferenceInfo()
            blocks = observation_blocks or [ObservationBlock(int(i)) for i in reference.obs_ids]
            if blocks:
                write_observation_blocks(h5, blocks)
            layout = h5.get_node("/configuration/instrument/subarray/layout")
            instrument_id = str(layout.attrs["name"])
            meta = reference_metadata(reference, instrument_id, len(series))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", tables.NaturalNameWarning)
                for key, value in meta.items():
                    h5.root._v_attrs[key] = value
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
