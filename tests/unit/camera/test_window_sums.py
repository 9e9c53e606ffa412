"""The compiled loops against the extractors' definitions written out trace by trace, and the
placement of a DL0 event's samples (bounds checked before the unchecked loops run)."""

from __future__ import annotations

import numpy as np
import pytest
from calibd.handlers.camera.window_sums import FIXED, GLOBAL, LOCAL, integrate, place_event


def reference(wf: np.ndarray, mode: int, width: int, shift: int, start: int):
    """Charge, peak time and start of every trace, by the definitions in `extract`."""
    n_ev, n_g, n_p, n_s = wf.shape
    charge, peak_time = np.full((2, n_ev, n_g, n_p), np.nan)
    for e in range(n_ev):
        for g in range(n_g):
            camera = np.argmax(np.nansum(wf[e, g].astype(np.float64), axis=0))
            for p in range(n_p):
                trace = wf[e, g, p].astype(np.float64)
                first = start
                if mode == GLOBAL:
                    first = int(np.clip(camera - shift, 0, n_s - width))
                if mode == LOCAL:
                    own = int(np.argmax(np.where(np.isnan(trace), -np.inf, trace)))
                    first = int(np.clip(own - shift, 0, n_s - width))
                window = trace[first : first + width]
                charge[e, g, p] = window.sum()
                if np.isnan(window).any():
                    continue
                j = int(np.argmax(window))
                delta = 0.0
                if 1 <= j <= width - 2:
                    y0, y1, y2 = window[j - 1 : j + 2]
                    if y0 - 2 * y1 + y2 < 0:
                        delta = float(np.clip(0.5 * (y0 - y2) / (y0 - 2 * y1 + y2), -0.5, 0.5))
                peak_time[e, g, p] = first + j + delta
    return charge, peak_time


@pytest.mark.parametrize("mode", [FIXED, GLOBAL, LOCAL])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_windows_follow_their_definition(mode, dtype):
    rng = np.random.default_rng(mode)
    wf = rng.normal(0, 1, (6, 2, 9, 20))
    wf[..., 11:14] += rng.uniform(2, 30, (6, 2, 9, 1))  # pulses near sample 12
    wf[:, :, 0, :3] += 50  # a pixel whose highest sample is at the trace's start
    wf[2, 1, 4] = np.nan  # a pixel not stored
    wf[3, 0, 5, 7] = np.nan  # a missing sample
    wf = wf.astype(dtype)
    width, shift, start = 8, 3, 5
    charge, peak, starts = integrate(wf, np.arange(6), mode, width, shift, start)
    want_charge, want_peak = reference(wf, mode, width, shift, start)
    assert np.allclose(charge, want_charge, rtol=1e-12, equal_nan=True)
    assert np.allclose(peak, want_peak, rtol=1e-12, equal_nan=True)
    assert np.all((starts >= 0) & (starts <= 20 - width))
    picked = integrate(wf, np.array([4, 1]), mode, width, shift, start, peak_time=False)
    assert np.array_equal(picked[0], charge[[4, 1]], equal_nan=True)
    assert np.isnan(picked[1]).all()


def test_an_event_is_placed_in_nominal_order_in_photo_electrons_with_nan_where_not_stored():
    raw = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)
    dst = np.zeros((2, 5, 4), dtype=np.float32)
    place_event(dst, raw, np.array([4, 0, 2]), np.array([1, 3]), 2.0, 1.0)
    assert np.array_equal(dst[:, [4, 0, 2]], raw.astype(np.float32) / 2 - 1)
    assert np.isnan(dst[:, [1, 3]]).all()


@pytest.mark.parametrize(
    "nominal, missing, shape",
    [
        ([0, 1, 5], [], (2, 3, 4)),  # a pixel index past the camera
        ([0, 1, -1], [], (2, 3, 4)),
        ([0, 1, 2], [7], (2, 3, 4)),
        ([0, 1], [], (2, 3, 4)),  # fewer indices than stored pixels
        ([0, 1, 2], [], (1, 3, 4)),  # another number of channels
        ([0, 1, 2], [], (2, 3, 6)),  # another number of samples
    ],
)
def test_placing_samples_outside_the_block_is_refused(nominal, missing, shape):
    dst = np.zeros((2, 5, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="cannot place"):
        place_event(dst, np.zeros(shape, np.uint16), np.array(nominal), np.array(missing), 1, 0)
