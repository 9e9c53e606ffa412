"""Pedestal and flat-field run files: validation, chunked reading and (streaming) writing.

One FITS file per run (see ../../schemas/formats/camera_run.md): a primary header with
`TEL_ID`, `OBS_ID`, `RUNTYPE` (`PEDESTAL` or `FLATFIELD`), `N_GAINS`, `N_PIXELS`, `TIMESYS`,
`N_SAMPLES` (waveform files only) and optionally `WINWIDTH` (image files: the integration
window the images were made with); a binary table `EVENTS`, one row per event, with
`EVENT_ID`, `TIME` (MJD), `EVENT_TYPE` (ACADA code: 0 flat-field, 2 pedestal) and either
`WAVEFORM` (n_gains x n_pixels x n_samples) or `IMAGE` and `PEAK_TIME` (n_gains x n_pixels).
Rows whose EVENT_TYPE does not belong to the run type are skipped and counted.

Reading memory-maps the file and copies `chunk_size` rows at a time, so memory is bounded by
the chunk, not the run. Every problem is a `BadInput` whose message starts with the file name.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from astropy.io import fits
from astropy.time import TIME_SCALES

from calibd.handler_api import BadInput, check_mjd

__all__ = [
    "EVENT_TYPE_CODES",
    "RUN_TYPES",
    "Chunk",
    "RunHeader",
    "RunWriter",
    "iter_chunks",
    "open_run",
    "write_run",
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


@dataclass(frozen=True)
class Chunk:
    """Consecutive events of one run: `charge` and `peak_time` (samples) shaped
    (n_events, n_gains, n_pixels); `window_width` is the integration width in samples
    (None for image files without `WINWIDTH`)."""

    charge: np.ndarray
    peak_time: np.ndarray
    event_id: np.ndarray
    time: np.ndarray
    window_width: int | None


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


Extractor = Callable[[np.ndarray], Any]


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
            yield from _chunks_via_astropy(name, hdu.data, code, chunk_size, header, extractor)
            return
    yield from _chunks_via_reads(name, path, layout, code, chunk_size, header, extractor)


#: Raw table bytes read at once: memory stays bounded by this, not by the chunk size.
READ_BYTES = 16 * 2**20


def _chunk(block: dict[str, np.ndarray], header: RunHeader, extractor: Extractor | None) -> Chunk:
    if header.mode == "image":
        charge, peak_time, width = block["IMAGE"], block["PEAK_TIME"], header.window_width
    else:
        wf = block["WAVEFORM"]
        native = wf.dtype.newbyteorder("=") if wf.dtype.kind in "iu" else np.dtype(np.float64)
        result = extractor(wf.astype(native))
        charge, peak_time, width = result.charge, result.peak_time, result.window_width
    return Chunk(charge, peak_time, block["EVENT_ID"], block["TIME"], width)


def _merge(parts: list[Chunk]) -> Chunk:
    if len(parts) == 1:
        return parts[0]
    return Chunk(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in _CHUNK_ARRAYS),
        parts[0].window_width,
    )


def _rows(chunk: Chunk, lo: int, hi: int | None) -> Chunk:
    return Chunk(*(getattr(chunk, f)[lo:hi] for f in _CHUNK_ARRAYS), chunk.window_width)


_CHUNK_ARRAYS = ("charge", "peak_time", "event_id", "time")


def _chunks_via_reads(
    name: str,
    path: str | os.PathLike,
    layout: tuple[int, int, np.dtype],
    code: int,
    chunk_size: int,
    header: RunHeader,
    extractor: Extractor | None,
) -> Iterator[Chunk]:
    """Read the table with plain reads of at most READ_BYTES (big-endian records), integrate
    each block at once, and hand out chunks of `chunk_size` events: the process never holds
    the mapped file, nor more than one block of raw records."""
    offset, n_rows, dtype = layout
    step = max(1, min(chunk_size, READ_BYTES // dtype.itemsize))
    parts: list[Chunk] = []
    held = 0
    with open(path, "rb") as fh:
        fh.seek(offset)
        for lo in range(0, n_rows, step):
            want = min(step, n_rows - lo)
            rec = np.fromfile(fh, dtype=dtype, count=want)
            if len(rec) < want:
                raise BadInput(f"{name}: truncated: events {lo + len(rec)}-{n_rows - 1} missing")
            keep = rec["EVENT_TYPE"] == code
            if keep.any():
                block = _columns(rec if keep.all() else rec[keep], header.mode)
                parts.append(_chunk(block, header, extractor))
                held += len(parts[-1].charge)
            del rec
            while held >= chunk_size or (lo + want == n_rows and held):
                merged = _merge(parts)
                rest = _rows(merged, chunk_size, None)
                parts, held = ([rest] if len(rest.charge) else []), len(rest.charge)
                yield _rows(merged, 0, chunk_size)


def _columns(rec: np.ndarray, mode: str) -> dict[str, np.ndarray]:
    """Native-endian columns of big-endian table records (waveforms stay a view)."""
    block = {"EVENT_ID": rec["EVENT_ID"].astype(np.int64), "TIME": rec["TIME"].astype(np.float64)}
    if mode == "image":
        block["IMAGE"] = rec["IMAGE"].astype(np.float64)
        block["PEAK_TIME"] = rec["PEAK_TIME"].astype(np.float64)
    else:  # a view: converted a few events at a time by `_chunk`
        block["WAVEFORM"] = rec["WAVEFORM"]
    return block


def _chunks_via_astropy(
    name: str,
    data: fits.FITS_rec,
    code: int,
    chunk_size: int,
    header: RunHeader,
    extractor: Extractor | None,
) -> Iterator[Chunk]:
    rows = np.flatnonzero(np.asarray(data["EVENT_TYPE"]) == code)
    for lo in range(0, len(rows), chunk_size):
        idx = rows[lo : lo + chunk_size]
        try:
            block = _read_rows(data, idx, chunk_size, header.mode)
        except Exception as exc:
            raise BadInput(f"{name}: cannot read events {idx[0]}-{idx[-1]} ({exc})") from exc
        yield _chunk(block, header, extractor)


def _read_rows(data: fits.FITS_rec, idx: np.ndarray, chunk_size: int, mode: str) -> dict:
    """Copy the rows `idx` (sorted) out of the table, reading at most `chunk_size` rows at once."""
    names = ["EVENT_ID", "TIME", *(("WAVEFORM",) if mode == "waveform" else ("IMAGE", "PEAK_TIME"))]
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    pos = 0
    while pos < len(idx):
        first = idx[pos]
        stop = np.searchsorted(idx, first + chunk_size)
        block = data[first : idx[stop - 1] + 1]
        local = idx[pos:stop] - first
        for n in names:
            col = block[n]
            if n == "WAVEFORM":
                kind = col.dtype.kind
                dtype = col.dtype.newbyteorder("=") if kind in "iu" else np.float64
                parts[n].append(np.asarray(col[local], dtype=dtype))
            elif n == "EVENT_ID":
                parts[n].append(np.asarray(col[local], dtype=np.int64))
            else:
                parts[n].append(np.asarray(col[local], dtype=np.float64))
        del block
        pos = stop
    return {n: v[0] if len(v) == 1 else np.concatenate(v) for n, v in parts.items()}


class RunWriter:
    """Write a run file row block by row block (the binary table is streamed to disk).

    `RunWriter(path, n_events=..., ...)` writes the headers; `write(...)` appends events;
    `close()` (or leaving the `with` block) checks that `n_events` rows came and pads the file.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        tel_id: int,
        obs_id: int,
        run_type: str,
        n_events: int,
        n_gains: int,
        n_pixels: int,
        mode: Literal["waveform", "image"],
        n_samples: int | None = None,
        waveform_dtype: str = "int16",
        timesys: str = "UTC",
        window_width: int | None = None,
    ) -> None:
        if run_type not in RUN_TYPES:
            raise ValueError(f"run_type must be one of {RUN_TYPES}")
        if mode == "waveform" and not n_samples:
            raise ValueError("waveform mode needs n_samples")
        self.n_events, self._written = n_events, 0
        self._mode = mode
        primary = fits.Header()
        primary["SIMPLE"] = True
        primary["BITPIX"] = 8
        primary["NAXIS"] = 0
        primary["EXTEND"] = True
        primary["TEL_ID"] = (int(tel_id), "telescope id")
        primary["OBS_ID"] = (int(obs_id), "observation id")
        primary["RUNTYPE"] = (run_type, "PEDESTAL or FLATFIELD")
        primary["N_GAINS"] = (int(n_gains), "gain channels")
        primary["N_PIXELS"] = (int(n_pixels), "camera pixels")
        if mode == "waveform":
            primary["HIERARCH N_SAMPLES"] = (int(n_samples), "samples per waveform")
        if window_width is not None and mode == "image":
            primary["WINWIDTH"] = (int(window_width), "integration window of IMAGE [samples]")
        primary["TIMESYS"] = (timesys, "time scale of TIME")
        cols = [
            fits.Column("EVENT_ID", "K"),
            fits.Column("TIME", "D", unit="d"),
            fits.Column("EVENT_TYPE", "I"),
        ]
        fields: list[tuple] = [("EVENT_ID", ">i8"), ("TIME", ">f8"), ("EVENT_TYPE", ">i2")]
        if mode == "waveform":
            shape = (n_gains, n_pixels, n_samples)
            code = {"int16": "I", "int32": "J", "float32": "E"}[waveform_dtype]
            dim = f"({n_samples},{n_pixels},{n_gains})"
            cols.append(fits.Column("WAVEFORM", f"{int(np.prod(shape))}{code}", dim=dim))
            fields.append(("WAVEFORM", np.dtype(waveform_dtype).newbyteorder(">"), shape))
        else:
            shape = (n_gains, n_pixels)
            dim = f"({n_pixels},{n_gains})"
            for col in ("IMAGE", "PEAK_TIME"):
                cols.append(fits.Column(col, f"{n_gains * n_pixels}E", dim=dim))
                fields.append((col, ">f4", shape))
        self._dtype = np.dtype(fields)
        table = fits.BinTableHDU.from_columns(cols, nrows=0, name="EVENTS").header
        table["NAXIS2"] = n_events
        if table["NAXIS1"] != self._dtype.itemsize:  # pragma: no cover - a bug, not an input
            raise RuntimeError("row layout does not match the FITS header")
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write(primary.tostring().encode("ascii"))
        self._file.write(table.tostring().encode("ascii"))

    def write(
        self,
        event_ids: np.ndarray,
        times: np.ndarray,
        event_types: np.ndarray,
        *,
        waveforms: np.ndarray | None = None,
        images: np.ndarray | None = None,
        peak_times: np.ndarray | None = None,
    ) -> None:
        """Append events; arrays share their first axis."""
        n = len(event_ids)
        if self._written + n > self.n_events:
            raise ValueError(f"more than the announced {self.n_events} events")
        rec = np.empty(n, dtype=self._dtype)
        rec["EVENT_ID"], rec["TIME"], rec["EVENT_TYPE"] = event_ids, times, event_types
        if self._mode == "waveform":
            rec["WAVEFORM"] = waveforms
        else:
            rec["IMAGE"], rec["PEAK_TIME"] = images, peak_times
        self._file.write(rec.tobytes())
        self._written += n

    def close(self) -> None:
        if self._file.closed:
            return
        try:
            if self._written != self.n_events:
                raise ValueError(f"{self._written} events written, {self.n_events} announced")
            size = self._written * self._dtype.itemsize
            self._file.write(b"\0" * (-size % 2880))
        finally:
            self._file.close()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_run(
    path: str | os.PathLike,
    *,
    tel_id: int,
    obs_id: int,
    run_type: str,
    event_ids: np.ndarray,
    times: np.ndarray,
    event_types: np.ndarray,
    waveforms: np.ndarray | None = None,
    images: np.ndarray | None = None,
    peak_times: np.ndarray | None = None,
    timesys: str = "UTC",
    window_width: int | None = None,
) -> None:
    """Write a whole run at once: `waveforms` (n_events, n_gains, n_pixels, n_samples) or
    `images` and `peak_times` (n_events, n_gains, n_pixels)."""
    if (waveforms is None) == (images is None):
        raise ValueError("give either waveforms or images (with peak_times)")
    if waveforms is not None:
        waveforms = np.asarray(waveforms)
        n, n_gains, n_pixels, n_samples = waveforms.shape
        mode = "waveform"
        if waveforms.dtype in (np.int8, np.uint8, np.int16):
            dtype = "int16"
        else:
            dtype = "int32" if waveforms.dtype.kind in "iu" else "float32"
    else:
        if peak_times is None:
            raise ValueError("images need peak_times")
        n, n_gains, n_pixels = np.shape(images)
        mode, dtype, n_samples = "image", "float32", None
    with RunWriter(
        path,
        tel_id=tel_id,
        obs_id=obs_id,
        run_type=run_type,
        n_events=n,
        n_gains=n_gains,
        n_pixels=n_pixels,
        mode=mode,
        n_samples=n_samples,
        waveform_dtype=dtype,
        timesys=timesys,
        window_width=window_width,
    ) as writer:
        writer.write(
            event_ids, times, event_types, waveforms=waveforms, images=images, peak_times=peak_times
        )
