"""The checks behind `dl0_reader`: FITS structure and sizes (before protozfits decodes anything),
header keywords, the pixel map and each event's arrays. Each failure is a `BadInput` whose
message starts with the file name."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy.io import fits

from calibd.handler_api import BadInput

__all__ = [
    "MAX_EVENTS",
    "MAX_PIXELS",
    "MAX_ROW_BYTES",
    "MAX_SAMPLES",
    "MAX_TILE_BYTES",
    "EventArrays",
    "check_datasums",
    "check_events_hdu",
    "check_magic",
    "check_structure",
    "event_arrays",
    "header_int",
    "header_str",
    "pixel_map",
]

#: Events in one file (an hour of 100 Hz calibration events is 360 000).
MAX_EVENTS = 10_000_000
#: Uncompressed bytes of one table row (ZNAXIS1): 2 gains x 10 000 pixels x 1 000 samples x 2 B.
MAX_ROW_BYTES = 40_000_000
#: Uncompressed bytes of one tile (ZNAXIS1 x ZTILELEN), what the decoder allocates at once.
MAX_TILE_BYTES = 1 << 31
MAX_PIXELS = 10_000
MAX_SAMPLES = 1_000
_SUM_BLOCK = 16 * 2880 * 64
_FITS_MAGIC = b"SIMPLE  =                    T"
_EVENTS_PBFHEAD = {"DL0v1.Telescope.Event": "DL0", "R1v1.Event": "R1"}


def _int_card(name: str, hdr: fits.Header, key: str, extname: str) -> int:
    value = hdr.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadInput(f"{name}: HDU {extname} header {key} must be an integer >= 0, got {value!r}")
    return value


def check_magic(path: str, name: str) -> None:
    """The file exists, starts like a FITS file and is a whole number of 2880-byte blocks."""
    try:
        with open(path, "rb") as fh:
            start = fh.read(len(_FITS_MAGIC))
    except OSError as exc:
        raise BadInput(f"{name}: cannot read: {exc.strerror or exc}") from exc
    if not start.startswith(b"SIMPLE  ="):
        raise BadInput(f"{name}: not a FITS file (no SIMPLE card)")
    size = os.path.getsize(path)
    if size % 2880:
        raise BadInput(f"{name}: truncated: {size} bytes is not a whole number of FITS blocks")


def check_structure(
    path: str, name: str, hdul: fits.HDUList
) -> tuple[fits.Header, dict[str, fits.Header]]:
    """The primary header and the binary tables' headers by EXTNAME, after checking that the file
    holds every byte its headers announce and that rows and tiles are within limits."""
    size = os.path.getsize(path)
    tables: dict[str, fits.Header] = {}
    for i, hdu in enumerate(hdul):
        hdr = hdu.header
        if i == 0:
            continue
        extname = str(hdr.get("EXTNAME", f"#{i}"))
        if hdr.get("XTENSION") != "BINTABLE":
            continue
        row, rows = _int_card(name, hdr, "NAXIS1", extname), _int_card(name, hdr, "NAXIS2", extname)
        heap = _int_card(name, hdr, "PCOUNT", extname)
        end = hdul.fileinfo(i)["datLoc"] + row * rows + heap
        if end > size:
            raise BadInput(
                f"{name}: truncated: HDU {extname} needs {end} bytes, the file has {size}"
            )
        if hdr.get("ZTABLE") is True:
            zrow = _int_card(name, hdr, "ZNAXIS1", extname)
            zrows = _int_card(name, hdr, "ZNAXIS2", extname)
            tile = _int_card(name, hdr, "ZTILELEN", extname) if "ZTILELEN" in hdr else zrows
            if zrow > MAX_ROW_BYTES:
                raise BadInput(
                    f"{name}: HDU {extname} rows of {zrow} bytes, over the limit {MAX_ROW_BYTES}"
                )
            if zrow * min(tile, zrows) > MAX_TILE_BYTES:
                raise BadInput(f"{name}: HDU {extname} tiles of {zrow} x {tile} bytes, too large")
            if zrows > MAX_EVENTS:
                raise BadInput(f"{name}: HDU {extname} has {zrows} rows, over {MAX_EVENTS}")
        if extname in tables:
            raise BadInput(f"{name}: HDU {extname} appears twice")
        tables[extname] = hdr
    return hdul[0].header, tables


def _ones_complement_sum(fh, start: int, length: int) -> int:
    """FITS 32-bit ones' complement sum of `length` bytes at `start` (read in bounded blocks)."""
    hi = lo = 0
    fh.seek(start)
    while length > 0:
        block = fh.read(min(length, _SUM_BLOCK))
        if len(block) % 4:
            block += bytes(4 - len(block) % 4)
        words = np.frombuffer(block, dtype=">u2")
        hi += int(words[0::2].sum(dtype=np.uint64))
        lo += int(words[1::2].sum(dtype=np.uint64))
        while hi >> 16 or lo >> 16:
            hi, lo = (hi & 0xFFFF) + (lo >> 16), (lo & 0xFFFF) + (hi >> 16)
        length -= _SUM_BLOCK
    return (hi << 16) + lo


def check_datasums(path: str, name: str, hdul: fits.HDUList) -> None:
    """Each HDU's data match its DATASUM and the whole HDU its CHECKSUM (when written; ACADA's
    writer always does), so that corrupt bytes never reach the C++ decoder, which can crash."""
    with open(path, "rb") as fh:
        for i, hdu in enumerate(hdul):
            datasum, checksum = hdu.header.get("DATASUM"), hdu.header.get("CHECKSUM")
            if datasum is None and checksum is None:
                continue
            extname = hdu.header.get("EXTNAME", "PRIMARY")
            info = hdul.fileinfo(i)
            data = _ones_complement_sum(fh, info["datLoc"], info["datSpan"])
            if datasum is not None and str(datasum).strip() != str(data):
                raise BadInput(
                    f"{name}: corrupt: HDU {extname} data sum {data} != DATASUM {datasum}"
                )
            if checksum is not None:
                total = data + _ones_complement_sum(
                    fh, info["hdrLoc"], info["datLoc"] - info["hdrLoc"]
                )
                total = (total & 0xFFFFFFFF) + (total >> 32)
                if total != 0xFFFFFFFF:
                    raise BadInput(f"{name}: corrupt: HDU {extname} fails its CHECKSUM")


def check_events_hdu(name: str, tables: dict[str, fits.Header]) -> str:
    """The data level ("DL0" or "R1") the Events HDU's PBFHEAD declares."""
    if "Events" not in tables:
        raise BadInput(f"{name}: HDU Events missing (not a telescope events file)")
    hdr = tables["Events"]
    if hdr.get("ZTABLE") is not True:
        raise BadInput(f"{name}: HDU Events is not a zFITS table (ZTABLE not T)")
    pbfhead = hdr.get("PBFHEAD")
    if pbfhead not in _EVENTS_PBFHEAD:
        raise BadInput(
            f"{name}: HDU Events has PBFHEAD {pbfhead!r}, expected one of {sorted(_EVENTS_PBFHEAD)}"
        )
    return _EVENTS_PBFHEAD[pbfhead]


def header_int(name: str, hdr: fits.Header, key: str) -> int | None:
    """A non-negative integer primary keyword, None when absent."""
    if key not in hdr:
        return None
    value = hdr[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadInput(f"{name}: primary header {key} must be an integer >= 0, got {value!r}")
    return int(value)


def header_str(name: str, hdr: fits.Header, key: str) -> str | None:
    """A string primary keyword, None when absent."""
    if key not in hdr:
        return None
    value = hdr[key]
    if not isinstance(value, str):
        raise BadInput(f"{name}: primary header {key} must be a string, got {value!r}")
    return value


def pixel_map(name: str, pixel_id_map: Any, num_pixels: int | None) -> np.ndarray:
    """CameraConfiguration's pixel_id_map as intp, checked to be a permutation of 0..n-1."""
    if not isinstance(pixel_id_map, np.ndarray) or pixel_id_map.ndim != 1:
        raise BadInput(f"{name}: CameraConfiguration pixel_id_map missing or not a 1-d array")
    n = len(pixel_id_map)
    if not 1 <= n <= MAX_PIXELS or pixel_id_map.dtype.kind not in "iu":
        raise BadInput(f"{name}: CameraConfiguration pixel_id_map of {n} {pixel_id_map.dtype}")
    if num_pixels is not None and num_pixels != n:
        raise BadInput(
            f"{name}: CameraConfiguration num_pixels {num_pixels} != len(pixel_id_map) {n}"
        )
    pid = pixel_id_map.astype(np.intp)
    if pid.min() < 0 or pid.max() >= n or len(np.unique(pid)) != n:
        raise BadInput(
            f"{name}: CameraConfiguration pixel_id_map is not a permutation of 0..{n - 1}"
        )
    return pid


@dataclass(frozen=True)
class EventArrays:
    """One event's stored waveform (channels, stored pixels, samples) uint16, its pixel_status
    and the stored mask (both per readout index)."""

    waveform: np.ndarray
    status: np.ndarray
    stored: np.ndarray


def _scalar(name: str, index: int, ev: Any, key: str, limit: int) -> int:
    value = getattr(ev, key)
    if value is None or not 0 <= value < limit:
        raise BadInput(f"{name}: event row {index} {key} {value!r} unset or outside 0..{limit - 1}")
    return int(value)


def event_arrays(name: str, index: int, ev: Any, header: Any) -> EventArrays:
    """Validate one decoded event against the file's header and return its arrays."""
    where = f"{name}: event row {index}"
    for key in ("event_id", "event_type", "event_time_s"):
        _scalar(name, index, ev, key, 2**64)
    _scalar(name, index, ev, "event_time_qns", 4_000_000_000)
    if ev.tel_id is not None and ev.tel_id != header.tel_id:
        raise BadInput(f"{where} has tel_id {ev.tel_id}, the file {header.tel_id}")
    n_channels = _scalar(name, index, ev, "num_channels", 3)
    if n_channels == 0 or (header.n_channels is not None and n_channels != header.n_channels):
        raise BadInput(f"{where} num_channels {n_channels}, the camera {header.n_channels}")
    n_samples = _scalar(name, index, ev, "num_samples", MAX_SAMPLES + 1)
    if n_samples == 0:
        raise BadInput(f"{where} num_samples 0")
    n_pixels = header.n_pixels
    survived_key = "num_pixels" if header.level == "R1" else "num_pixels_survived"
    survived = getattr(ev, survived_key)
    if survived is None or not 0 <= survived <= n_pixels:
        raise BadInput(f"{where} {survived_key} {survived!r} unset or over num_pixels {n_pixels}")
    if header.level == "R1" and survived != n_pixels:
        raise BadInput(f"{where} num_pixels {survived}, the camera {n_pixels}")
    status = ev.pixel_status
    if status is None and header.level == "R1":
        status = np.zeros(n_pixels, dtype=np.uint8)
    if (
        not isinstance(status, np.ndarray)
        or status.dtype != np.uint8
        or status.shape != (n_pixels,)
    ):
        got = None if status is None else (getattr(status, "dtype", None), np.shape(status))
        raise BadInput(f"{where} pixel_status {got} is not {n_pixels} uint8")
    dvr = status & 3
    stored = dvr != 0
    if survived == n_pixels and not stored.any():
        stored = np.ones(n_pixels, dtype=bool)  # no DVR applied (ACADA, R1): all stored
    if int(stored.sum()) != survived:
        raise BadInput(f"{where} has {int(stored.sum())} pixels with DVR bits, {survived} survived")
    wf = ev.waveform
    if not isinstance(wf, np.ndarray) or wf.dtype != np.uint16:
        got = None if wf is None else getattr(wf, "dtype", type(wf).__name__)
        raise BadInput(f"{where} waveform is {got}, expected uint16")
    expected = n_channels * survived * n_samples
    if wf.size != expected:
        raise BadInput(
            f"{where} waveform has {wf.size} values, channels x pixels x samples = "
            f"{n_channels} x {survived} x {n_samples} = {expected}"
        )
    return EventArrays(wf.reshape(n_channels, survived, n_samples), status, stored)
