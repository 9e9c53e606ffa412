"""Extracted calibration events on disk between the two steps of a block's computation.

The first step (one worker per group of stream files) reads each DL0/R1 file alone (protozfits
holds about 100 MB per open file: a whole tile of 400 events) and writes each event's extracted
charge and peak time, not its waveform (1/20 of the size), to a spill file per (input file,
event kind). The second step merges the spills of a kind in time order and cuts them into
chunks. Spills are read with plain `readinto` a batch at a time, so what was read is not kept
mapped in memory.

A spill is a headerless sequence of numpy records (`record_dtype`): `t` (MJD TAI), `charge`
and `peak` (n_channels, n_pixels) float32, and `gain` (n_pixels,) int8 for gain-selected
events (one channel). `SpillInfo` says which.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["SpillInfo", "SpillWriter", "read_spill", "record_dtype"]


def record_dtype(n_channels: int, n_pixels: int, gain: bool) -> np.dtype:
    fields = [
        ("t", "<f8"),
        ("charge", "<f4", (n_channels, n_pixels)),
        ("peak", "<f4", (n_channels, n_pixels)),
    ]
    if gain:
        fields.append(("gain", "i1", (n_pixels,)))
    return np.dtype(fields)


@dataclass(frozen=True)
class SpillInfo:
    """One spill file: its events' kind, count, record layout and time span (MJD TAI)."""

    path: str
    kind: str
    order: int
    n_events: int
    n_channels: int
    n_pixels: int
    gain: bool
    first: float
    last: float

    @property
    def dtype(self) -> np.dtype:
        return record_dtype(self.n_channels, self.n_pixels, self.gain)


class SpillWriter:
    """Appends batches of one kind's events of one input file to its spill file."""

    def __init__(self, path: str, kind: str, order: int) -> None:
        self.path, self.kind, self.order = path, kind, order
        self._file = open(path, "wb")  # noqa: SIM115 (closed by close())
        self._layout: tuple[int, int, bool] | None = None
        self._n = 0
        self._first = self._last = float("nan")

    def add(
        self, t: np.ndarray, charge: np.ndarray, peak: np.ndarray, gain: np.ndarray | None
    ) -> None:
        layout = (charge.shape[1], charge.shape[2], gain is not None)
        if self._layout is None:
            self._layout = layout
        elif layout != self._layout:
            raise ValueError(f"{self.path}: events of layout {layout}, earlier {self._layout}")
        records = np.empty(len(t), dtype=record_dtype(*layout))
        records["t"], records["charge"], records["peak"] = t, charge, peak
        if gain is not None:
            records["gain"] = gain
        records.tofile(self._file)
        if self._n == 0:
            self._first = float(t[0])
        self._last = float(t[-1])
        self._n += len(t)

    def close(self) -> SpillInfo | None:
        """Close the file; its description, or None (and the file removed) when empty."""
        self._file.close()
        if self._layout is None:
            os.unlink(self.path)
            return None
        n_channels, n_pixels, gain = self._layout
        return SpillInfo(
            self.path,
            self.kind,
            self.order,
            self._n,
            n_channels,
            n_pixels,
            gain,
            self._first,
            self._last,
        )


def read_spill(info: SpillInfo, batch: int) -> Iterator[np.ndarray]:
    """The spill's records, `batch` at a time (each batch a fresh array)."""
    dtype = info.dtype
    with open(info.path, "rb", buffering=0) as f:
        left = info.n_events
        while left > 0:
            n = min(batch, left)
            records = np.empty(n, dtype=dtype)
            if f.readinto(records.view(np.uint8)) != n * dtype.itemsize:
                raise ValueError(f"{info.path}: spill file shorter than its {info.n_events} events")
            left -= n
            yield records
