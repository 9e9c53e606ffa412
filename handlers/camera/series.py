"""Camera calibration as a time series along an observation block of interleaved
calibration events (ACADA DL0/R1 `CAL` streams: pedestal and flat-field events in one stream).

Events of each kind are cut, in time order, into chunks of `chunk_size` events, consecutive
chunks sharing `overlap` events (the reference pipeline's size chunking). Each chunk is one
estimate: its statistics come from its own events in one pass (`StreamingStats` with a single
update, so the median is the chunks' own, not a median of medians). A flat-field chunk is
paired with the pedestal chunk that overlaps it most in time (the nearest one when none
overlaps) and gives one row of coefficients (`ffactor.calibration_coefficients`), valid from the
chunk's first event until the next row's. The last chunk holds the block's last `chunk_size`
events, so every event is in a chunk and no chunk is short unless the block is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from calibd.handlers.camera.ffactor import FFactorConfig, Outlier, calibration_coefficients
from calibd.handlers.camera.gain_selection import channel_use, fill_unmeasured
from calibd.handlers.camera.stats import StatsConfig, StreamingStats, median_over_events
from pydantic import BaseModel, Field, model_validator

from calibd.handler_api import BadInput

__all__ = [
    "EventChunk",
    "EventChunker",
    "SeriesConfig",
    "chunk_statistics",
    "coefficient_series",
    "pair_chunks",
]


class SeriesConfig(BaseModel):
    chunk_size: int = Field(default=2500, ge=10, le=1_000_000)
    overlap: int = Field(default=0, ge=0, le=999_999)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> SeriesConfig:
        if self.overlap >= self.chunk_size:
            raise ValueError("overlap must be smaller than chunk_size")
        return self


@dataclass(frozen=True)
class EventChunk:
    """Consecutive events of one kind: `charge`, `peak_time` (n_events, n_gains, n_pixels; None
    when not kept), `time` (n_events,) MJD TAI; `start`/`end` the first and last event's time."""

    charge: np.ndarray
    peak_time: np.ndarray | None
    time: np.ndarray

    @property
    def start(self) -> float:
        return float(self.time[0])

    @property
    def end(self) -> float:
        return float(self.time[-1])

    def __len__(self) -> int:
        return len(self.time)


class EventChunker:
    """Collects events of one kind (in time order) and cuts them into overlapping chunks.

    Events are copied into one preallocated buffer of about 2 x `chunk_size` events (the last
    `chunk_size` events are always kept, for the last chunk), moved to its front when it is
    full, so memory stays at that buffer plus one chunk. With `views`, chunks are views of
    the buffer, valid until the next `add` or `finish` (for callers that use each chunk at
    once: no chunk copy either). `peak_time` may be None in every batch (not kept)."""

    def __init__(self, config: SeriesConfig, *, views: bool = False) -> None:
        self.size, self.step = config.chunk_size, config.chunk_size - config.overlap
        self.views = views
        self._charge: np.ndarray | None = None
        self._peak: np.ndarray | None = None
        self._time = np.empty(0)
        self._n = 0  # events held
        self._last = -np.inf  # the time of the last event added
        self._pos = 0  # buffer index where the next chunk starts
        self._covered = 0  # buffer index where the last emitted chunk ends
        self.n_chunks = 0

    def add(
        self, charge: np.ndarray, peak_time: np.ndarray | None, time: np.ndarray
    ) -> list[EventChunk]:
        """Add a batch of events; the chunks it completes."""
        if len(time) == 0:
            return []
        if time[0] < self._last:
            raise ValueError("events must be added in time order")
        if self._charge is not None and (peak_time is None) != (self._peak is None):
            raise ValueError("peak times must be given with every batch or with none")
        self._last = time[-1]
        self._room(charge, peak_time, len(time))
        assert self._charge is not None
        lo, hi = self._n, self._n + len(time)
        self._charge[lo:hi] = charge
        if self._peak is not None:
            self._peak[lo:hi] = peak_time
        self._time[lo:hi] = time
        self._n = hi
        out = []
        while self._n - self._pos >= self.size:
            out.append(self._chunk(self._pos, self._pos + self.size))
            self._covered = self._pos + self.size
            self._pos += self.step
        return out

    def finish(self) -> list[EventChunk]:
        """The last chunk: the last `chunk_size` events (all of them in a short block), if
        some event is in no chunk yet."""
        if self._n <= self._covered:
            return []
        chunk = self._chunk(max(0, self._n - self.size), self._n)
        self._n, self._pos, self._covered = 0, 0, 0
        return [chunk]

    def _room(self, charge: np.ndarray, peak_time: np.ndarray | None, b: int) -> None:
        """Make room for `b` more events: drop those no future chunk (nor the last one) can
        contain by moving the rest to the front, and grow only when that is not enough."""
        if self._charge is None:
            self._allocate(2 * self.size + b, charge, peak_time is not None)
            return
        if self._n + b <= len(self._time):
            return
        cut = max(0, min(self._pos, self._n - self.size))
        kept = self._n - cut
        arrays = [a for a in (self._charge, self._peak, self._time) if a is not None]
        if kept + b > len(self._time):
            old = [a[cut : self._n] for a in arrays]
            self._allocate(2 * (kept + b), self._charge[:1], self._peak is not None)
            arrays = [a for a in (self._charge, self._peak, self._time) if a is not None]
            for a, o in zip(arrays, old, strict=True):
                a[:kept] = o
        elif cut > 0:
            for a in arrays:
                a[:kept] = a[cut : self._n]  # numpy copies through a buffer if they overlap
        self._n, self._pos, self._covered = kept, self._pos - cut, max(0, self._covered - cut)

    def _allocate(self, capacity: int, charge: np.ndarray, peak: bool) -> None:
        shape, dtype = (capacity, *np.shape(charge)[1:]), np.asarray(charge).dtype
        self._charge = np.empty(shape, dtype)
        self._peak = np.empty(shape, dtype) if peak else None
        self._time = np.empty(capacity)

    def _chunk(self, lo: int, hi: int) -> EventChunk:
        assert self._charge is not None
        self.n_chunks += 1
        arrays = (self._charge, self._peak, self._time)
        if self.views:
            return EventChunk(*(None if a is None else a[lo:hi] for a in arrays))
        return EventChunk(*(None if a is None else a[lo:hi].copy() for a in arrays))


def _charge_statistics(charge: np.ndarray, stats: StatsConfig | dict | None) -> dict:
    part = StreamingStats(stats)
    part.update(charge)
    out = part.result(require_values=False)
    if not np.any(out["n_events"] > 0):
        raise BadInput("every pixel's charge is NaN in all events of a chunk")
    return out


def chunk_statistics(
    chunk: EventChunk, stats: StatsConfig | dict | None = None, peak_time: bool = True
) -> dict:
    """Sigma-clipped charge statistics of the chunk's own events, and (with `peak_time`) the
    median peak time, else None (`column_stats` copies a few columns at a time: no float64
    copy of the chunk)."""
    return {
        "charge": _charge_statistics(chunk.charge, stats),
        "peak_time_median": median_over_events(chunk.peak_time) if peak_time else None,
        "n_events": len(chunk),
        "time_start": chunk.start,
        "time_end": chunk.end,
    }


def pair_chunks(
    flatfield: list[tuple[float, float]], pedestal: list[tuple[float, float]]
) -> list[int]:
    """For each flat-field chunk's (start, end), the index of the pedestal chunk overlapping
    it most in time (the nearest by mid time when none overlaps)."""
    if not pedestal:
        raise ValueError("no pedestal chunk to pair with")
    starts, ends = (np.array(v, dtype=np.float64) for v in zip(*pedestal, strict=True))
    mids = 0.5 * (starts + ends)
    out = []
    for start, end in flatfield:
        overlap = np.minimum(ends, end) - np.maximum(starts, start)
        if np.any(overlap > 0):
            out.append(int(np.argmax(overlap)))
        else:
            out.append(int(np.argmin(np.abs(mids - 0.5 * (start + end)))))
    return out


def coefficient_series(
    flatfield: list[dict],
    pedestal: list[dict],
    pairs: list[int],
    window_width: int,
    ffactor: FFactorConfig | dict | None = None,
    gain_tolerance: float | None = None,
) -> list[dict[str, Any]]:
    """One row of coefficients per flat-field chunk (its statistics from `chunk_statistics`,
    paired by `pairs`), with `valid_from` (MJD TAI: the chunk's first event), `valid_to`
    (the next row's start; None for the last), the chunk's event counts and time spans; the
    coefficients carry the chunks' `pedestal_mean` and `flatfield_mean` besides. With
    `gain_tolerance`, the statistics are of gain-selected events split by gain
    (`gain_selection`): each pixel is calibrated in its dominant gain, `gain_mixed` pixels are
    flagged, the other gain keeps ACADA's nominal calibration (`measured`)."""
    rows = []
    for k, (ff, p) in enumerate(zip(flatfield, pairs, strict=True)):
        ped = pedestal[p]
        measured = extra = None
        if gain_tolerance is not None:
            measured, share = channel_use(ff["charge"]["n_valid"])
            extra = np.where(measured & (share > gain_tolerance), int(Outlier.GAIN_MIXED), 0)
        coefficients = calibration_coefficients(
            ped["charge"],
            ff["charge"],
            ff["peak_time_median"],
            window_width,
            ffactor,
            measured=measured,
            extra_mask=extra,
        )
        if measured is not None:
            fill_unmeasured(coefficients, measured)
            coefficients["gain_minority_share"] = share
        # the chunks' clipped means too, for their pixel statistics (monitoring_export)
        coefficients["pedestal_mean"] = np.asarray(ped["charge"]["mean"])
        coefficients["flatfield_mean"] = np.asarray(ff["charge"]["mean"])
        rows.append(
            {
                "valid_from": ff["time_start"],
                "valid_to": flatfield[k + 1]["time_start"] if k + 1 < len(flatfield) else None,
                "flatfield_events": ff["n_events"],
                "pedestal_events": ped["n_events"],
                "flatfield_span": (ff["time_start"], ff["time_end"]),
                "pedestal_span": (ped["time_start"], ped["time_end"]),
                "coefficients": coefficients,
            }
        )
    return rows
