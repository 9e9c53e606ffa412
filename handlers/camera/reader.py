"""Pedestal and flat-field run files: validation and chunked reading (`writer` writes them).

One FITS file per run (see ../../schemas/formats/camera_run.md): a primary header with
`TEL_ID`, `OBS_ID`, `RUNTYPE` (`PEDESTAL` or `FLATFIELD`), `N_GAINS`, `N_PIXELS`, `TIMESYS`,
`N_SAMPLES` (waveform files only) and optionally `WINWIDTH` (image files: the integration
window the images were made with); a binary table `EVENTS`, one row per event, with
`EVENT_ID`, `TIME` (MJD), `EVENT_TYPE` (ACADA code: 0 flat-field, 2 pedestal) and either
`WAVEFORM` (n_gains x n_pixels x n_samples) or `IMAGE` and `PEAK_TIME` (n_gains x n_pixels).
Rows whose EVENT_TYPE does not belong to the run type are skipped and counted.

Reading memory-maps the file and copies `chunk_size` rows at a time (`chunks`), so memory is
bounded by the chunk, not the run. Every problem is a `BadInput` whose message starts with the
file name.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from astropy.io import fits
from astropy.time import TIME_SCALES
from calibd.handlers.camera.chunks import Chunk, Extractor, chunks_via_astropy, chunks_via_reads

from calibd.handler_api import BadInput, check_mjd

__all__ = [
    "EVENT_TYPE_CODES",
    "RUN_TYPES",
    "Chunk",
    "RunHeader",
    "iter_chunks",
    "open_run",
]

RUN_TYPES = ("PEDESTAL", "FLATFIELD")
#: ACADA event type of the events that make up each run type.
EVENT_TYPE_CODES = {"PEDESTAL": 2, "FLATFIELD": 0}
_INT_KEYS = ("TEL_ID", "OBS_ID", "N_GAINS", "N_PIXELS")
_SCALAR_COLUMNS = ("EVENT_ID", "TIME", "EVENT_TYPE")
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"PK\x03\x04")


@dataclass(frozen=True)
class RunHeader:
    """What `open_run` learnt about a run. `n_events` counts the rows of the run's event type;
    `n_ignored` the rows of another type. Times are MJD in the `timesys` scale."""

    path: str
    tel_id: int
    obs_id: int
    run_type: Literal["PEDESTAL", "FLATFIELD"]
    n_gains: int
    n_pixels: int
    n_samples: int | None
    mode: Literal["waveform", "image"]
    n_events: int
    n_ignored: int
    time_start: float
    time_end: float
    timesys: str
    window_width: int | None = None

    @property
    def name(self) -> str:
        return Path(self.path).name


def _header_int(name: str, hdr: fits.Header, key: str, *, minimum: int = 1) -> int:
    if key not in hdr:
        raise BadInput(f"{name}: header key {key} missing")
    value = hdr[key]
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise BadInput(f"{name}: header key {key} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_size(name: str, path: Path, hdul: fits.HDUList) -> None:
    """Refuse a file shorter than its headers declare, or with a header cut short after the
    last complete HDU (astropy only warns, or silently drops that HDU)."""
    with open(path, "rb") as f:
        if f.read(4).startswith(_COMPRESSED_MAGIC):
            return
    size = os.path.getsize(path)
    for i, hdu in enumerate(hdul):
        hdr = hdu.header
        n_axis = hdr.get("NAXIS", 0)
        n_bytes = 0
        if n_axis:
            n_values = int(np.prod([hdr[f"NAXIS{k}"] for k in range(1, n_axis + 1)]))
            n_bytes = (
                abs(hdr["BITPIX"]) // 8 * hdr.get("GCOUNT", 1) * (hdr.get("PCOUNT", 0) + n_values)
            )
        info = hdul.fileinfo(i)
        end = info["datLoc"] + n_bytes
        if end > size:
            raise BadInput(
                f"{name}: file truncated: HDU {i} needs {end} bytes, the file has {size}"
            )
    last = info["datLoc"] + info["datSpan"]
    if size > last:  # astropy silently drops an HDU whose header is cut short
        raise BadInput(
            f"{name}: file truncated or corrupt: {size - last} bytes after the last complete HDU"
        )


def _event_dtype_ok(dtype: np.dtype) -> bool:
    return dtype.kind in "iuf"


def open_run(path: str | os.PathLike, expected_type: str | None = None) -> RunHeader:
    """Validate a run file and return its header. Raises BadInput naming the file and problem."""
    path = Path(path)
    name = path.name
    if expected_type is not None and expected_type not in RUN_TYPES:
        raise ValueError(f"expected_type must be one of {RUN_TYPES}, got {expected_type!r}")
    if not path.is_file():
        raise BadInput(f"{name}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdul = fits.open(path, memmap=True)
    except Exception as exc:
        raise BadInput(f"{name}: not a readable FITS file ({exc})") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _validate(name, path, hdul, expected_type)
    except BadInput:
        raise
    except Exception as exc:  # astropy's many ways of failing on a corrupt file
        raise BadInput(f"{name}: corrupt or unreadable FITS file ({exc})") from exc
    finally:
        hdul.close()


def _scalar_columns(
    path: Path, hdul: fits.HDUList, hdu: fits.BinTableHDU, names: tuple[str, ...]
) -> list[np.ndarray]:
    """Scalar columns read field by field with positioned reads: touching every row through
    the memory map would fault the whole file into the process (rows are large)."""
    if any(
        hdu.columns[n].bzero not in (None, 0) or hdu.columns[n].bscale not in (None, 1)
        for n in names
    ):
        return [np.asarray(hdu.data[n]) for n in names]
    dtype = hdu.columns.dtype.newbyteorder(">")
    offset = hdul.fileinfo(hdul.index_of(hdu.name))["datLoc"]
    n_rows = int(hdu.header["NAXIS2"])
    fields = [(dtype.fields[n][0], dtype.fields[n][1]) for n in names]
    lo = min(off for _, off in fields)
    hi = max(off + ft.itemsize for ft, off in fields)
    buf = bytearray((hi - lo) * n_rows)
    with open(path, "rb") as fh:
        fd = fh.fileno()
        for i in range(n_rows):
            piece = os.pread(fd, hi - lo, offset + i * dtype.itemsize + lo)
            if len(piece) < hi - lo:
                raise BadInput(f"{path.name}: truncated: row {i} of {n_rows} missing")
            buf[i * (hi - lo) : (i + 1) * (hi - lo)] = piece
    raw = np.frombuffer(bytes(buf), dtype=np.uint8).reshape(n_rows, hi - lo)
    return [raw[:, off - lo : off - lo + ft.itemsize].copy().view(ft).ravel() for ft, off in fields]


def _validate(name: str, path: Path, hdul: fits.HDUList, expected_type: str | None) -> RunHeader:
    hdul.readall()
    _check_size(name, path, hdul)
    hdr = hdul[0].header
    ints = {
        key: _header_int(name, hdr, key, minimum=0 if key.endswith("_ID") else 1)
        for key in _INT_KEYS
    }
    for key in ("RUNTYPE", "TIMESYS"):
        if key not in hdr:
            raise BadInput(f"{name}: header key {key} missing")
    run_type = str(hdr["RUNTYPE"]).strip().upper()
    if run_type not in RUN_TYPES:
        raise BadInput(f"{name}: RUNTYPE {hdr['RUNTYPE']!r} is not one of {', '.join(RUN_TYPES)}")
    if expected_type is not None and run_type != expected_type:
        raise BadInput(f"{name}: RUNTYPE is {run_type}, expected {expected_type}")
    timesys = str(hdr["TIMESYS"]).strip()
    if timesys.lower() not in TIME_SCALES:
        raise BadInput(f"{name}: TIMESYS {timesys!r} is not a time scale")
    if "EVENTS" not in hdul:
        raise BadInput(f"{name}: binary table HDU EVENTS missing")
    hdu = hdul["EVENTS"]
    if not isinstance(hdu, fits.BinTableHDU):
        raise BadInput(f"{name}: HDU EVENTS is not a binary table")
    columns = set(hdu.columns.names)
    for col in _SCALAR_COLUMNS:
        if col not in columns:
            raise BadInput(f"{name}: column {col} missing from EVENTS")
    n_gains, n_pixels = ints["N_GAINS"], ints["N_PIXELS"]
    n_samples: int | None = None
    if "WAVEFORM" in columns:
        if "IMAGE" in columns:
            raise BadInput(f"{name}: EVENTS has both WAVEFORM and IMAGE; one mode per file")
        mode = "waveform"
        n_samples = _header_int(name, hdr, "N_SAMPLES")
        shapes = {"WAVEFORM": (n_gains, n_pixels, n_samples)}
    elif "IMAGE" in columns or "PEAK_TIME" in columns:
        mode = "image"
        for col in ("IMAGE", "PEAK_TIME"):
            if col not in columns:
                raise BadInput(f"{name}: column {col} missing from EVENTS")
        shapes = {"IMAGE": (n_gains, n_pixels), "PEAK_TIME": (n_gains, n_pixels)}
    else:
        raise BadInput(f"{name}: EVENTS has neither WAVEFORM nor IMAGE/PEAK_TIME columns")
    window_width = None
    if mode == "image" and "WINWIDTH" in hdr:
        window_width = _header_int(name, hdr, "WINWIDTH")
    # `hdu.data` is not touched: astropy would copy the whole mapped table into memory on
    # close; the layout comes from the column definitions and the header
    row_dtype = hdu.columns.dtype
    n_rows = int(hdu.header.get("NAXIS2", 0))
    if n_rows == 0:
        raise BadInput(f"{name}: table EVENTS is empty")
    for col, shape in shapes.items():
        dt = row_dtype[col]
        got = dt.shape
        if got != shape:
            raise BadInput(
                f"{name}: column {col} has shape {got}, the header says {shape} "
                "(n_gains, n_pixels" + (", n_samples)" if col == "WAVEFORM" else ")")
            )
        if not _event_dtype_ok(dt.base):
            raise BadInput(f"{name}: column {col} has non-numeric type {dt.base}")
    for col in _SCALAR_COLUMNS:
        dt = row_dtype[col]
        if dt.shape != () or not _event_dtype_ok(dt.base):
            raise BadInput(f"{name}: column {col} must be a numeric scalar, got {dt}")
    event_type, times = _scalar_columns(path, hdul, hdu, ("EVENT_TYPE", "TIME"))
    selected = event_type == EVENT_TYPE_CODES[run_type]
    n_events = int(selected.sum())
    if n_events == 0:
        found = ", ".join(str(v) for v in np.unique(event_type)[:5])
        raise BadInput(
            f"{name}: none of the {n_rows} events has EVENT_TYPE {EVENT_TYPE_CODES[run_type]} "
            f"({run_type}); found {found}"
        )
    times = np.asarray(times, dtype=np.float64)[selected]
    if not np.all(np.isfinite(times)):
        raise BadInput(f"{name}: column TIME contains NaN or infinite values")
    check_mjd(name, "column TIME", times)
    return RunHeader(
        path=str(path),
        tel_id=ints["TEL_ID"],
        obs_id=ints["OBS_ID"],
        run_type=run_type,
        n_gains=n_gains,
        n_pixels=n_pixels,
        n_samples=n_samples,
        mode=mode,
        n_events=n_events,
        n_ignored=n_rows - n_events,
        time_start=float(times.min()),
        time_end=float(times.max()),
        timesys=timesys,
        window_width=window_width,
    )


def iter_chunks(
    path: str | os.PathLike,
    header: RunHeader,
    chunk_size: int,
    extractor: Extractor | None = None,
) -> Iterator[Chunk]:
    """Yield the run's events (of its own event type) in chunks of `chunk_size`.

    Image files pass IMAGE/PEAK_TIME through (as float64); waveform files are integrated by
    `extractor` (see `extract.make_extractor`), which takes waveforms shaped
    (n_events, n_gains, n_pixels, n_samples) and returns an object with `charge`,
    `peak_time` and `window_width`. Only `chunk_size` rows are copied out of the file at once.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    if header.mode == "waveform" and extractor is None:
        raise ValueError("waveform runs need an extractor")
    name = Path(path).name
    code = EVENT_TYPE_CODES[header.run_type]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdul = fits.open(path, memmap=True)
    except Exception as exc:
        raise BadInput(f"{name}: not a readable FITS file ({exc})") from exc
    with hdul:
        hdu = hdul["EVENTS"]
        scaled = any(c.bzero not in (None, 0) or c.bscale not in (None, 1) for c in hdu.columns)
        layout = (
            hdul.fileinfo(hdul.index_of("EVENTS"))["datLoc"],
            int(hdu.header["NAXIS2"]),
            hdu.columns.dtype.newbyteorder(">"),
        )
        if scaled:  # TZERO/TSCAL columns: let astropy apply them (pages stay mapped)
            yield from chunks_via_astropy(name, hdu.data, code, chunk_size, header, extractor)
            return
    yield from chunks_via_reads(name, path, layout, code, chunk_size, header, extractor)
