"""The chunked event reading behind `reader.iter_chunks`: run-file table rows, `chunk_size`
events at a time, integrated by the extractor (waveform files) into `Chunk`s."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from astropy.io import fits
from calibd.handlers.camera.extract import Extractor

from calibd.handler_api import BadInput

if TYPE_CHECKING:
    from calibd.handlers.camera.reader import RunHeader

__all__ = ["READ_BYTES", "Chunk", "Extractor", "chunks_via_astropy", "chunks_via_reads"]


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


def chunks_via_reads(
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


def chunks_via_astropy(
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
