"""The compiled loops of the extractors (numba, as ctapipe's and lstchain's extractors are):
one pass over each trace finds its window, sums it and refines its peak time, where the array
expressions they replace made about ten passes and a gathered copy of every window.

`integrate` implements the three windows of `extract` (see its docstring for their rules);
`place_event` writes one DL0 event's stored samples into a block in p.e. and NaN where a
pixel was not stored (`dl0_reader`).
Both are compiled at their first call in a process (or loaded from numba's cache: `jit`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from calibd.handlers.camera.jit import compiled, float_array

__all__ = ["FIXED", "GLOBAL", "LOCAL", "integrate", "place_event"]

FIXED, GLOBAL, LOCAL = 0, 1, 2
"""The window modes: a fixed start, the camera-wide peak, each pixel's own peak."""


def _camera_peak(wf: Any, ev: int, g: int, total: Any) -> int:
    """The sample where the trace summed over pixels (NaN skipped) is highest (the first)."""
    total[:] = 0.0
    for p in range(wf.shape[2]):
        for k in range(wf.shape[3]):
            v = wf[ev, g, p, k]
            if v == v:
                total[k] += v
    best = 0
    for k in range(1, wf.shape[3]):
        if total[k] > total[best]:
            best = k
    return best


_camera_peak = compiled(_camera_peak)


def _integrate(wf, events, mode, width, shift, fixed_start, want_peak):
    n_g, n_p, n_s = wf.shape[1], wf.shape[2], wf.shape[3]
    n_ev = events.shape[0]
    charge = np.empty((n_ev, n_g, n_p))
    peak_time = np.full((n_ev, n_g, n_p), np.nan)
    starts = np.full((n_ev, n_g, n_p), fixed_start, dtype=np.intp)
    last = n_s - width
    total = np.empty(n_s)
    for e in range(n_ev):
        ev = events[e]
        for g in range(n_g):
            start = fixed_start
            if mode == GLOBAL:
                start = min(max(_camera_peak(wf, ev, g, total) - shift, 0), last)
            for p in range(n_p):
                trace = wf[ev, g, p]
                j = -1  # the peak's place in the window, once known
                if mode == LOCAL:
                    top, peak = -np.inf, 0
                    for k in range(n_s):
                        if trace[k] > top:  # NaN never is: a missing sample is skipped
                            top, peak = trace[k], k
                    start = min(max(peak - shift, 0), last)
                    if 0 <= shift < width:  # then the window holds the trace's first maximum
                        j = peak - start
                starts[e, g, p] = start
                s = 0.0
                for k in range(start, start + width):
                    s += np.float64(trace[k])
                charge[e, g, p] = s
                if not want_peak or not np.isfinite(s):
                    continue
                if j < 0:
                    j = 0
                    for k in range(1, width):
                        if trace[start + k] > trace[start + j]:
                            j = k
                delta = 0.0
                if 1 <= j <= width - 2:  # a parabola through the peak and its neighbours
                    y0 = np.float64(trace[start + j - 1])
                    y1 = np.float64(trace[start + j])
                    y2 = np.float64(trace[start + j + 1])
                    curvature = y0 - 2 * y1 + y2
                    if curvature < 0:
                        delta = min(max(0.5 * (y0 - y2) / curvature, -0.5), 0.5)
                peak_time[e, g, p] = start + j + delta
    return charge, peak_time, starts


_integrate_compiled = compiled(_integrate)


def integrate(
    waveforms: np.ndarray,
    events: np.ndarray,
    mode: int,
    width: int,
    shift: int = 0,
    start: int = 0,
    peak_time: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Charge (float64 sum), peak time (samples; NaN without `peak_time` or when the window
    has a missing sample) and window start of the events `events` of `waveforms` (n_events,
    n_gains, n_pixels, n_samples), each (len(events), n_gains, n_pixels). `width` must fit
    the traces and `start` (FIXED) lie in [0, n_samples - width]: the caller checks."""
    wf = float_array(waveforms)
    picked = np.ascontiguousarray(events, dtype=np.intp)
    if picked.size and not 0 <= picked.min() <= picked.max() < len(wf):  # loops do not check
        raise ValueError(f"event indices outside the {len(wf)} events")
    return _integrate_compiled(wf, picked, mode, width, shift, start, peak_time)


def _place_event(dst, src, nominal, missing, scale, offset):
    for c in range(src.shape[0]):
        for i in range(src.shape[1]):
            row = dst[c, nominal[i]]
            for k in range(src.shape[2]):
                row[k] = np.float32(src[c, i, k]) / scale - offset
        for i in range(missing.shape[0]):
            dst[c, missing[i]] = np.nan


_place_event_compiled = compiled(_place_event)


def place_event(
    dst: np.ndarray,
    src: np.ndarray,
    nominal: np.ndarray,
    missing: np.ndarray,
    scale: float,
    offset: float,
) -> None:
    """dst[:, nominal] = src / scale - offset in float32 and dst[:, missing] = NaN (src:
    (channels, stored pixels, samples) uint16; dst: (channels, pixels, samples) float32,
    C-contiguous). The loops do not check bounds, so the shapes and indices are checked
    here (ValueError)."""
    src = np.ascontiguousarray(src)
    nominal = np.ascontiguousarray(nominal, dtype=np.intp)
    missing = np.ascontiguousarray(missing, dtype=np.intp)
    c, n_pixels, n_samples = dst.shape
    if (
        dst.dtype != np.float32
        or not dst.flags.c_contiguous
        or src.ndim != 3
        or (src.shape[0], src.shape[2]) != (c, n_samples)
        or nominal.shape != (src.shape[1],)
        or any(a.size and not 0 <= a.min() <= a.max() < n_pixels for a in (nominal, missing))
    ):
        raise ValueError(f"cannot place samples {src.shape} at {nominal.shape} in {dst.shape}")
    _place_event_compiled(
        dst,
        src,
        nominal,
        missing,
        np.float32(scale),
        np.float32(offset),
    )
