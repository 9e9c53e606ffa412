"""Charge extraction: integrate waveforms (n_events, n_gains, n_pixels, n_samples) in a window.

- `fixed_window`: the sum of samples [start, start + width) in every pixel and event.
- `global_peak_window`: per event and gain, the camera-wide peak sample P (argmax of the trace
  summed over pixels); the window [P - shift, P - shift + width), moved back inside the trace
  where it would stick out (ctapipe's GlobalPeakWindowSum does the same).
- `local_peak_window`: the same window around each pixel's own peak sample (ctapipe's
  LocalPeakWindowSum; the reference calibration pipeline integrates width 12 this way).

NaN samples (pixels a DL0 file did not store, or a gain not selected) give a NaN charge and
peak time for that pixel only.

The peak time of a pixel is the position of its highest sample in the window, refined to a
fraction of a sample by a parabola through that sample and its two neighbours (in samples from
the start of the trace). The pedestal cancels in the parabola, so raw (not baseline-subtracted)
waveforms need no pedestal estimate. The pedestal run and the flat-field run must be
integrated with the same width: every result carries `window_width` so the caller can check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from calibd.handlers.camera.window_sums import FIXED, GLOBAL, LOCAL, integrate
from pydantic import BaseModel, Field

from calibd.handler_api import BadInput

__all__ = [
    "Extraction",
    "Extractor",
    "ExtractorConfig",
    "fixed_window",
    "global_peak_window",
    "local_peak_window",
    "make_extractor",
]


class ExtractorConfig(BaseModel):
    """`window_start` is used by `fixed_window` only, `shift` by the peak windows only."""

    name: Literal["fixed_window", "global_peak_window", "local_peak_window"] = "global_peak_window"
    window_start: int = Field(default=0, ge=0, le=4096)  # samples
    window_width: int = Field(default=8, ge=1, le=4096)
    shift: int = Field(default=3, ge=0, le=4096)


@dataclass(frozen=True)
class Extraction:
    """`charge` and `peak_time` (samples) shaped (n_events, n_gains, n_pixels); `window_start`
    (n_events, n_gains) the first sample of each event's window."""

    charge: np.ndarray
    peak_time: np.ndarray
    window_start: np.ndarray
    window_width: int


def _check_shape(waveforms: np.ndarray, source: str) -> None:
    if waveforms.ndim != 4:
        raise BadInput(
            f"{source}: waveforms must be (n_events, n_gains, n_pixels, n_samples), "
            f"got shape {waveforms.shape}"
        )


def _traces(waveforms: np.ndarray, source: str) -> tuple[np.ndarray, int]:
    """The waveforms as an array of rank 4 (BadInput otherwise) and their length."""
    waveforms = np.asarray(waveforms)
    _check_shape(waveforms, source)
    return waveforms, waveforms.shape[-1]


def _extract(
    waveforms: np.ndarray,
    events: np.ndarray | None,
    mode: int,
    width: int,
    shift: int,
    start: int,
    peak_time: bool,
) -> Extraction:
    """The compiled loops (`window_sums.integrate`) over `events` of `waveforms` (all when
    None); a camera-wide window's start is reported per event and gain."""
    if events is None:
        events = np.arange(len(waveforms), dtype=np.intp)
    charge, peak, starts = integrate(waveforms, events, mode, width, shift, start, peak_time)
    if mode != LOCAL:
        starts = starts[:, :, 0] if starts.shape[2] else np.full(starts.shape[:2], start)
    return Extraction(charge, peak, starts, width)


def _check_fixed(start: int, width: int, n_samples: int, source: str) -> None:
    if start < 0 or width < 1 or start + width > n_samples:
        raise BadInput(
            f"{source}: window [{start}, {start + width}) does not fit the "
            f"{n_samples}-sample traces"
        )


def _check_width(width: int, n_samples: int, source: str) -> None:
    if width < 1 or width > n_samples:
        raise BadInput(f"{source}: window width {width} does not fit the {n_samples}-sample traces")


def fixed_window(
    waveforms: np.ndarray,
    start: int,
    width: int,
    *,
    source: str = "waveforms",
    peak_time: bool = True,
    events: np.ndarray | None = None,
) -> Extraction:
    """Sum of samples [start, start + width). Raises BadInput when the window leaves the trace.
    `events`: the indices of the events to integrate (all when None)."""
    waveforms, n_samples = _traces(waveforms, source)
    _check_fixed(start, width, n_samples, source)
    return _extract(waveforms, events, FIXED, width, 0, start, peak_time)


def global_peak_window(
    waveforms: np.ndarray,
    width: int,
    shift: int,
    *,
    source: str = "waveforms",
    peak_time: bool = True,
    events: np.ndarray | None = None,
) -> Extraction:
    """Window [P - shift, P - shift + width) around the camera-wide peak P of each event and
    gain, clipped to the trace. Raises BadInput when the traces are shorter than `width`."""
    waveforms, n_samples = _traces(waveforms, source)
    _check_width(width, n_samples, source)
    return _extract(waveforms, events, GLOBAL, width, shift, 0, peak_time)


def local_peak_window(
    waveforms: np.ndarray,
    width: int,
    shift: int,
    *,
    source: str = "waveforms",
    peak_time: bool = True,
    events: np.ndarray | None = None,
) -> Extraction:
    """Window [p - shift, p - shift + width) around each pixel's own peak p (its first
    highest sample, missing samples skipped), clipped to the trace. Raises BadInput when the
    traces are shorter than `width`."""
    waveforms, n_samples = _traces(waveforms, source)
    _check_width(width, n_samples, source)
    return _extract(waveforms, events, LOCAL, width, shift, 0, peak_time)


Extractor = Callable[..., Extraction]
"""`extractor(waveforms, events=None)`: see `make_extractor`."""


def make_extractor(
    config: ExtractorConfig | dict,
    n_samples: int,
    *,
    source: str = "waveforms",
    peak_time: bool = True,
) -> Extractor:
    """The configured extractor, its window checked against `n_samples` now (BadInput naming
    `source` when it does not fit) rather than at the first chunk; without `peak_time` its
    peak times are NaN (not computed). It takes the waveforms and, optionally, the indices of
    the events to integrate (no copy of the others)."""
    cfg = ExtractorConfig.model_validate(config)
    options = {"source": source, "peak_time": peak_time}
    width = cfg.window_width
    if cfg.name == "fixed_window":
        _check_fixed(cfg.window_start, width, n_samples, source)
        return lambda wf, events=None: fixed_window(
            wf, cfg.window_start, width, events=events, **options
        )
    _check_width(width, n_samples, source)
    peak_window = local_peak_window if cfg.name == "local_peak_window" else global_peak_window
    return lambda wf, events=None: peak_window(wf, width, cfg.shift, events=events, **options)
