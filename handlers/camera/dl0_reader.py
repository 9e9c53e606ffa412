"""ACADA DL0 (and R1) telescope event files (protobuf-zFITS): validation and chunked reading.

A file holds a primary header (ctao-datamodel keys: DATATYPE, OBS_ID, SB_ID, AE_ID = tel_id,
CHUNK_ID, DATASRC = SDH stream, OBSNIGHT) and the tables `DataStream`, `CameraConfiguration`
and `Events` (PBFHEAD `DL0v1.Telescope.Event`; R1: `R1v1.Event`). Stored waveforms are uint16,
flat (channel, stored pixel, sample); photo-electrons = stored / waveform_scale -
waveform_offset (already pedestal-subtracted and gain-calibrated by ACADA).

Pixels: `pixel_status` (one uint8 per camera pixel, in readout order, bits as ctapipe's
`PixelStatus`): bits 0-1 DVR status (0 = not stored, 1 = passthrough, 2/3 = kept by DVR),
bit 2 HIGH_GAIN_STORED, bit 3 LOW_GAIN_STORED. The stored pixels are those with a DVR status
> 0, in readout order; `pixel_id_map[readout index]` is their nominal pixel id. As ctapipe-io-
zfits does, a file that stores every pixel with all DVR bits 0 (ACADA without DVR) counts them
all as stored. R1 files have no DVR: every pixel is stored.

Chunks (`iter_dl0_events`): waveforms in nominal pixel order, shaped (n_events, n_channels,
n_pixels, n_samples), NaN where a pixel was not stored. Gain-selected data (num_channels == 1)
keep one channel and carry `gain` (n_events, n_pixels) int8: 0 high gain (or no gain bit set:
a one-gain camera), 1 low gain, -1 pixel not stored or both gain bits set; two-channel data have
`gain = None`.
Times are TAI: `time_s` (seconds since 1970-01-01T00:00:00 TAI), `time_qns` (quarter ns) and
`mjd_tai` = 40587 + (time_s + time_qns / 4e9) / 86400.

Every problem with a file is a `BadInput` whose message starts with the file name; sizes are
checked against the limits below before anything is allocated.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from calibd.handlers.camera.dl0_checks import (
    MAX_EVENTS,
    check_datasums,
    check_events_hdu,
    check_magic,
    check_structure,
    event_arrays,
    header_int,
    header_str,
    pixel_map,
)
from calibd.handlers.camera.window_sums import place_event

from calibd.handler_api import BadInput

__all__ = [
    "CAL_EVENT_TYPES",
    "MAX_CHUNK_BYTES",
    "MAX_EVENTS",
    "DL0Chunk",
    "DL0Header",
    "iter_dl0_events",
    "open_dl0",
]

#: ACADA event types of the calibration (CAL) stream.
CAL_EVENT_TYPES = {"FLATFIELD": 0, "PEDESTAL": 2, "DARK_PEDESTAL": 3}
CAL_EVENT_TYPES |= {"ELECTRONIC_PEDESTAL": 4, "SKY_PEDESTAL": 5}
#: Largest float32 waveform block one chunk may allocate (bytes).
MAX_CHUNK_BYTES = 1 << 30
#: 1970-01-01T00:00:00 TAI as MJD (TAI).
MJD_UNIX_TAI_EPOCH = 40587.0
_PBFHEAD = {
    "DL0": ("DL0v1.Telescope.DataStream", "DL0v1.Telescope.CameraConfiguration"),
    "R1": ("R1v1.TelescopeDataStream", "R1v1.CameraConfiguration"),
}


@dataclass(frozen=True, eq=False)
class DL0Header:
    """What `open_dl0` validated. `level` is "DL0" or "R1"; the primary-header values
    (`data_type`, `chunk_id`, `data_source`, `obs_night`) are None when the key is absent;
    `pixel_id_map` maps readout index -> nominal pixel id; `n_channels` and
    `n_samples_nominal` come from CameraConfiguration (None when unset)."""

    path: str
    level: str
    tel_id: int
    obs_id: int
    sb_id: int | None
    waveform_scale: float
    waveform_offset: float
    pixel_id_map: np.ndarray = field(repr=False)
    n_pixels: int
    n_events: int
    n_channels: int | None
    n_samples_nominal: int | None
    data_type: str | None
    chunk_id: int | None
    data_source: str | None
    obs_night: str | None

    @property
    def name(self) -> str:
        return Path(self.path).name


@dataclass(frozen=True, eq=False)
class DL0Chunk:
    """Consecutive selected events of one file (see the module docstring for units)."""

    event_id: np.ndarray
    event_type: np.ndarray
    time_s: np.ndarray
    time_qns: np.ndarray
    mjd_tai: np.ndarray
    waveform: np.ndarray
    gain: np.ndarray | None
    pixel_status: np.ndarray

    def __len__(self) -> int:
        return len(self.event_id)


def _protozfits_file(header_path: str, name: str) -> Any:
    from protozfits import File

    try:
        return File(header_path)
    except Exception as exc:  # the C++ decoder's errors
        raise BadInput(f"{name}: protozfits cannot open the file: {exc}") from exc


def _first_row(table: Any, name: str, extname: str) -> Any:
    if len(table) < 1:
        raise BadInput(f"{name}: HDU {extname} has no row")
    try:
        return table[0]
    except Exception as exc:
        raise BadInput(f"{name}: HDU {extname} row 0 unreadable: {exc}") from exc


def _agree(name: str, what: str, values: dict[str, int | None]) -> int:
    known = {k: v for k, v in values.items() if v is not None}
    if not known:
        raise BadInput(f"{name}: {what} missing (" + ", ".join(values) + ")")
    if len(set(known.values())) > 1:
        detail = ", ".join(f"{k}={v}" for k, v in known.items())
        raise BadInput(f"{name}: {what} disagree: {detail}")
    return int(next(iter(known.values())))


def open_dl0(path: str | os.PathLike) -> DL0Header:
    """Validate a DL0 (or R1) telescope events file and return its header."""
    path = os.fspath(path)
    name = Path(path).name
    check_magic(path, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=False, lazy_load_hdus=False) as hdul:
                headers = check_structure(path, name, hdul)
                check_datasums(path, name, hdul)
    except BadInput:
        raise
    except Exception as exc:
        raise BadInput(f"{name}: not a readable FITS file: {exc}") from exc
    primary, tables = headers
    level = check_events_hdu(name, tables)
    for extname, want in zip(("DataStream", "CameraConfiguration"), _PBFHEAD[level], strict=True):
        if extname not in tables:
            raise BadInput(f"{name}: HDU {extname} missing")
        if tables[extname].get("PBFHEAD") != want:
            got = tables[extname].get("PBFHEAD")
            raise BadInput(f"{name}: HDU {extname} has PBFHEAD {got!r}, expected {want!r}")
    f = _protozfits_file(path, name)
    try:
        ds = _first_row(f.DataStream, name, "DataStream")
        cc = _first_row(f.CameraConfiguration, name, "CameraConfiguration")
        n_events = len(f.Events)
    finally:
        f.close()
    ae_id = header_int(name, primary, "AE_ID")
    tel_id = _agree(
        name, "tel_id", {"DataStream": ds.tel_id, "CameraConfiguration": cc.tel_id, "AE_ID": ae_id}
    )
    obs_id = _agree(
        name, "obs_id", {"DataStream": ds.obs_id, "OBS_ID": header_int(name, primary, "OBS_ID")}
    )
    sb_values = {"DataStream": ds.sb_id, "SB_ID": header_int(name, primary, "SB_ID")}
    sb_id = (
        _agree(name, "sb_id", sb_values) if any(v is not None for v in sb_values.values()) else None
    )
    scale, offset = ds.waveform_scale, ds.waveform_offset
    if scale is None or offset is None:
        raise BadInput(f"{name}: DataStream waveform_scale/waveform_offset not set")
    if not (np.isfinite(scale) and scale > 0 and np.isfinite(offset)):
        raise BadInput(f"{name}: DataStream waveform_scale {scale} / offset {offset} unusable")
    pid = pixel_map(name, cc.pixel_id_map, cc.num_pixels)
    n_channels = cc.num_channels
    if n_channels is not None and n_channels not in (1, 2):
        raise BadInput(f"{name}: CameraConfiguration num_channels {n_channels} not 1 or 2")
    if n_events > MAX_EVENTS:
        raise BadInput(f"{name}: {n_events} events, more than the limit {MAX_EVENTS}")
    return DL0Header(
        path=path,
        level=level,
        tel_id=tel_id,
        obs_id=obs_id,
        sb_id=sb_id,
        waveform_scale=float(scale),
        waveform_offset=float(offset),
        pixel_id_map=pid,
        n_pixels=len(pid),
        n_events=n_events,
        n_channels=n_channels,
        n_samples_nominal=cc.num_samples_nominal,
        data_type=header_str(name, primary, "DATATYPE"),
        chunk_id=header_int(name, primary, "CHUNK_ID"),
        data_source=header_str(name, primary, "DATASRC"),
        obs_night=header_str(name, primary, "OBSNIGHT"),
    )


class _Block:
    """Preallocated arrays of one chunk, filled event by event."""

    def __init__(self, n: int, n_channels: int, n_pixels: int, n_samples: int) -> None:
        self.n = 0
        self.ints = np.zeros((4, n), dtype=np.int64)  # event_id, event_type, time_s, time_qns
        # every event's pixels are all written (`_place`: NaN where not stored)
        self.waveform = np.empty((n, n_channels, n_pixels, n_samples), dtype=np.float32)
        self.status = np.zeros((n, n_pixels), dtype=np.uint8)
        self.gain = np.full((n, n_pixels), -1, dtype=np.int8) if n_channels == 1 else None

    def chunk(self) -> DL0Chunk:
        n = self.n
        event_id, event_type, time_s, time_qns = (a[:n].copy() for a in self.ints)
        mjd = MJD_UNIX_TAI_EPOCH + (time_s + time_qns / 4e9) / 86400.0
        return DL0Chunk(
            event_id=event_id,
            event_type=event_type,
            time_s=time_s,
            time_qns=time_qns,
            mjd_tai=mjd,
            waveform=self.waveform[:n],
            gain=None if self.gain is None else self.gain[:n],
            pixel_status=self.status[:n],
        )


def iter_dl0_events(
    path: str | os.PathLike,
    header: DL0Header,
    chunk_size: int,
    event_types: Iterable[int] | None = None,
) -> Iterator[DL0Chunk]:
    """Yield the file's events (only `event_types` if given) `chunk_size` at a time."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    name = header.name
    wanted = None if event_types is None else {int(t) for t in event_types}
    f = _protozfits_file(os.fspath(path), name)
    try:
        n_total = len(f.Events)
        if n_total != header.n_events:
            raise BadInput(f"{name}: {n_total} events, the header said {header.n_events}")
        block: _Block | None = None
        shape: tuple[int, int] | None = None
        for index in range(n_total):
            try:
                ev = f.Events[index]
            except Exception as exc:
                raise BadInput(f"{name}: event row {index} unreadable: {exc}") from exc
            if wanted is not None and ev.event_type not in wanted:
                continue
            arrays = event_arrays(name, index, ev, header)
            if shape is None:
                shape = arrays.waveform.shape[0], arrays.waveform.shape[2]
                per_event = shape[0] * header.n_pixels * shape[1] * 4
                if min(chunk_size, n_total) * per_event > MAX_CHUNK_BYTES:
                    raise BadInput(
                        f"{name}: a chunk of {chunk_size} events of {per_event} bytes is over "
                        f"the limit {MAX_CHUNK_BYTES} bytes"
                    )
            elif (arrays.waveform.shape[0], arrays.waveform.shape[2]) != shape:
                raise BadInput(
                    f"{name}: event row {index} has (channels, samples) "
                    f"{arrays.waveform.shape[0], arrays.waveform.shape[2]}, earlier events {shape}"
                )
            if block is None:
                block = _Block(
                    min(chunk_size, n_total - index), shape[0], header.n_pixels, shape[1]
                )
            _place(block, arrays, ev, header)
            if block.n == len(block.ints[0]):
                yield block.chunk()
                block = None
        if block is not None and block.n:
            yield block.chunk()
    finally:
        f.close()


def _place(block: _Block, arrays: Any, ev: Any, header: DL0Header) -> None:
    """Copy one validated event into `block` (nominal pixel order, photo-electrons)."""
    i = block.n
    block.ints[:, i] = (ev.event_id, ev.event_type, ev.event_time_s, ev.event_time_qns)
    pid, stored = header.pixel_id_map, arrays.stored
    scale, offset = header.waveform_scale, header.waveform_offset
    place_event(block.waveform[i], arrays.waveform, pid[stored], pid[~stored], scale, offset)
    block.status[i, header.pixel_id_map] = arrays.status
    if block.gain is not None:
        info = (arrays.status >> 2) & 3
        gain = np.where(info == 2, 1, np.where(info == 3, -1, 0)).astype(np.int8)
        gain[~arrays.stored] = -1
        block.gain[i, header.pixel_id_map] = gain
    block.n += 1
