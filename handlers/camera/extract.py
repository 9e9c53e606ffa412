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
from pydantic import BaseModel, Field

from calibd.handler_api import BadInput

__all__ = [
    "Extraction",
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


def _integrate(
    waveforms: np.ndarray,
    start: np.ndarray,
    width: int,
    peak_time: bool = True,
    peak: np.ndarray | None = None,
) -> Extraction:
    """Sum and peak time in the windows [start, start + width), `start` shaped (n_ev, n_gains)
    (one window per camera) or (n_ev, n_gains, n_pixels); without `peak_time` the peak times
    are NaN (not computed: pedestal events need none). `peak`: each pixel's highest sample
    when it is known to be its window's too (the local peak window), so not searched again.
    The windows are gathered from the flat traces by one index array (no per-axis grids)."""
    per_pixel = start if start.ndim == 3 else start[:, :, None]
    shape, n_samples = waveforms.shape[:3], waveforms.shape[-1]
    flat = np.ascontiguousarray(waveforms).reshape(-1)
    first = np.arange(np.prod(shape), dtype=np.intp).reshape(shape) * n_samples + per_pixel
    window = flat[first[..., None] + np.arange(width)]
    charge = window.sum(axis=-1, dtype=np.float64)
    if not peak_time:
        return Extraction(charge, np.full(charge.shape, np.nan), start, width)
    j = window.argmax(axis=-1) if peak is None else peak - per_pixel
    delta = np.zeros(charge.shape)
    if width >= 3:
        inner = np.clip(j, 1, width - 2)
        at = first + inner
        y0, y1, y2 = (flat[at + d].astype(np.float64) for d in (-1, 0, 1))
        curvature = y0 - 2 * y1 + y2
        with np.errstate(divide="ignore", invalid="ignore"):
            delta = np.where(curvature < 0, 0.5 * (y0 - y2) / curvature, 0.0)
        delta = np.where(inner == j, np.clip(delta, -0.5, 0.5), 0.0)
    peak_time = np.where(np.isfinite(charge), per_pixel + j + delta, np.nan)
    return Extraction(charge, peak_time, start, width)


def fixed_window(
    waveforms: np.ndarray,
    start: int,
    width: int,
    *,
    source: str = "waveforms",
    peak_time: bool = True,
) -> Extraction:
    """Sum of samples [start, start + width). Raises BadInput when the window leaves the trace."""
    waveforms, n_samples = _traces(waveforms, source)
    if start < 0 or width < 1 or start + width > n_samples:
        raise BadInput(
            f"{source}: window [{start}, {start + width}) does not fit the "
            f"{n_samples}-sample traces"
        )
    starts = np.full(waveforms.shape[:2], start, dtype=np.intp)
    return _integrate(waveforms, starts, width, peak_time)


def _peak_window_input(waveforms: np.ndarray, width: int, source: str) -> tuple[np.ndarray, int]:
    """The waveforms as an array and their length; BadInput when `width` does not fit."""
    waveforms, n_samples = _traces(waveforms, source)
    if width < 1 or width > n_samples:
        raise BadInput(f"{source}: window width {width} does not fit the {n_samples}-sample traces")
    return waveforms, n_samples


def global_peak_window(
    waveforms: np.ndarray,
    width: int,
    shift: int,
    *,
    source: str = "waveforms",
    peak_time: bool = True,
) -> Extraction:
    """Window [P - shift, P - shift + width) around the camera-wide peak P of each event and
    gain, clipped to the trace. Raises BadInput when the traces are shorter than `width`."""
    waveforms, n_samples = _peak_window_input(waveforms, width, source)
    peak = np.nansum(waveforms, axis=2, dtype=np.float64).argmax(axis=-1)
    start = np.clip(peak - shift, 0, n_samples - width).astype(np.intp)
    return _integrate(waveforms, start, width, peak_time)


def local_peak_window(
    waveforms: np.ndarray,
    width: int,
    shift: int,
    *,
    source: str = "waveforms",
    peak_time: bool = True,
) -> Extraction:
    """Window [p - shift, p - shift + width) around each pixel's own peak p, clipped to the
    trace. Raises BadInput when the traces are shorter than `width`."""
    waveforms, n_samples = _peak_window_input(waveforms, width, source)
    if waveforms.dtype.kind == "f" and np.isnan(waveforms).any():
        peak = np.where(np.isnan(waveforms), -np.inf, waveforms).argmax(axis=-1)
    else:
        peak = waveforms.argmax(axis=-1)
    start = np.clip(peak - shift, 0, n_samples - width).astype(np.intp)
    # the window holds the peak when shift < width (clipping keeps it inside), and the first
    # maximum of the trace is then the window's first maximum too
    return _integrate(waveforms, start, width, peak_time, peak if 0 <= shift < width else None)


def make_extractor(
    config: ExtractorConfig | dict,
    n_samples: int,
    *,
    source: str = "waveforms",
    peak_time: bool = True,
) -> Callable[[np.ndarray], Extraction]:
    """The configured extractor, its window checked against `n_samples` now (BadInput naming
    `source` when it does not fit) rather than at the first chunk; without `peak_time` its
    peak times are NaN (not computed)."""
    cfg = ExtractorConfig.model_validate(config)
    options = {"source": source, "peak_time": peak_time}
    if cfg.name == "fixed_window":
        fixed_window(np.zeros((1, 1, 1, n_samples)), cfg.window_start, cfg.window_width, **options)
        return lambda wf: fixed_window(wf, cfg.window_start, cfg.window_width, **options)
    peak_window = local_peak_window if cfg.name == "local_peak_window" else global_peak_window
    peak_window(np.zeros((1, 1, 1, n_samples)), cfg.window_width, cfg.shift, **options)
    return lambda wf: peak_window(wf, cfg.window_width, cfg.shift, **options)
