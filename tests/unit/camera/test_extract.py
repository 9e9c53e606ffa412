"""Extractors on known pulses, and the F-factor gain recovered from simulated waveform runs."""

from __future__ import annotations

import numpy as np
import pytest
from calibd.handlers.camera.extract import (
    ExtractorConfig,
    fixed_window,
    global_peak_window,
    local_peak_window,
    make_extractor,
)
from calibd.handlers.camera.ffactor import calibration_coefficients
from calibd.handlers.camera.reader import iter_chunks, open_run
from calibd.handlers.camera.simulate import CameraModel, contained_fraction, simulate_run
from calibd.handlers.camera.stats import StreamingStats
from pydantic import ValidationError

from calibd.errors import BadInput

N_SAMPLES = 30


def shapes(t: np.ndarray) -> np.ndarray:
    """Gaussian pulses (sigma 1 sample) at times t, sampled over the trace and summing to 1."""
    p = np.exp(-0.5 * (np.arange(N_SAMPLES) - t[..., None]) ** 2)
    return p / p.sum(axis=-1, keepdims=True)


def pulses(t: np.ndarray, charge: float = 1000.0, pedestal: float = 400.0) -> np.ndarray:
    """Pulses of `charge` at times t (n_events, n_gains, n_pixels), on a pedestal per sample."""
    return pedestal + charge * shapes(t)


def in_window(t: np.ndarray, start: np.ndarray, width: int) -> np.ndarray:
    """The fraction of each pulse inside [start, start + width), start (n_events, n_gains)."""
    j = np.arange(N_SAMPLES)
    inside = (j >= start[:, :, None, None]) & (j < start[:, :, None, None] + width)
    return (shapes(t) * inside).sum(axis=-1)


def test_fixed_window_sums_the_window_and_finds_the_peak_time():
    t = np.random.default_rng(0).uniform(10.5, 12, (200, 2, 3))
    out = fixed_window(pulses(t), 8, 8)
    assert out.window_width == 8 and out.charge.shape == (200, 2, 3)
    assert np.all(out.window_start == 8)
    expected = 8 * 400 + 1000 * in_window(t, out.window_start, 8)
    assert np.allclose(out.charge, expected, rtol=1e-12)
    # [8, 16) holds these pulses to 3 sigma or more: all but < 0.2 % of the charge
    assert np.all(expected > 8 * 400 + 998)
    # the parabola through the highest three samples: within 0.06 samples of the true time
    assert np.max(np.abs(out.peak_time - t)) < 0.06


def test_global_peak_window_follows_the_camera_peak_per_event():
    rng = np.random.default_rng(1)
    event_time = rng.uniform(6, 20, (300, 1, 1))
    t = event_time + rng.normal(0, 0.3, (300, 2, 50))
    out = global_peak_window(pulses(t), 8, 3)
    # the camera-summed trace peaks at the sample nearest the event time
    expected_start = np.rint(event_time[:, :, 0]).astype(int) - 3
    assert np.mean(out.window_start == expected_start) > 0.95
    assert np.all(np.abs(out.window_start - expected_start) <= 1)
    expected = 8 * 400 + 1000 * in_window(t, out.window_start, 8)
    assert np.allclose(out.charge, expected, rtol=1e-12)
    assert np.median(expected) > 8 * 400 + 995
    assert np.max(np.abs(out.peak_time - t)) < 0.06
    # a fixed window in the wrong place misses most of the pulses
    assert np.median(fixed_window(pulses(t), 0, 8).charge) < 8 * 400 + 500


def test_global_peak_window_is_clipped_to_the_trace():
    t = np.full((4, 1, 5), 28.5)  # at the end of the trace
    out = global_peak_window(pulses(t), 8, 3)
    assert np.all(out.window_start == N_SAMPLES - 8)


def test_local_peak_window_follows_each_pixel_s_own_peak():
    """Pixels peaking 10 samples apart in one event: one window per pixel (width 12, the
    reference configuration's), where a camera-wide window would miss some of them."""
    rng = np.random.default_rng(4)
    t = rng.choice([8.0, 18.0], (100, 1, 40)) + rng.normal(0, 0.2, (100, 1, 40))
    out = local_peak_window(pulses(t), 12, 4)
    assert out.window_start.shape == (100, 1, 40)
    expected_start = np.clip(np.rint(t).astype(int) - 4, 0, N_SAMPLES - 12)
    assert np.all(np.abs(out.window_start - expected_start) <= 1)
    expected = 12 * 400 + 1000 * in_window_per_pixel(t, out.window_start, 12)
    assert np.allclose(out.charge, expected, rtol=1e-12)
    assert np.min(expected) > 12 * 400 + 995 and np.max(np.abs(out.peak_time - t)) < 0.06
    assert np.min(global_peak_window(pulses(t), 12, 4).charge) < 12 * 400 + 500


@pytest.mark.parametrize("extract", [fixed_window, global_peak_window, local_peak_window])
def test_a_pixel_without_samples_is_nan_and_spoils_no_other(extract):
    """DL0 files leave out pixels (DVR) and gain-selected data one gain: NaN samples."""
    wf = pulses(np.full((5, 2, 6), 12.0))
    wf[:, 0, 2] = np.nan
    args = (8, 8) if extract is fixed_window else (8, 3)
    out = extract(wf, *args)
    assert np.isnan(out.charge[:, 0, 2]).all() and np.isnan(out.peak_time[:, 0, 2]).all()
    others = np.ones((2, 6), bool)
    others[0, 2] = False
    assert np.isfinite(out.charge[:, others]).all() and np.isfinite(out.peak_time[:, others]).all()


def in_window_per_pixel(t: np.ndarray, start: np.ndarray, width: int) -> np.ndarray:
    j = np.arange(N_SAMPLES)
    inside = (j >= start[..., None]) & (j < start[..., None] + width)
    return (shapes(t) * inside).sum(axis=-1)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"name": "fixed_window", "window_start": 25, "window_width": 8}, r"window \[25, 33\)"),
        ({"name": "global_peak_window", "window_width": 31}, "window width 31 does not fit"),
        ({"name": "local_peak_window", "window_width": 31}, "window width 31 does not fit"),
    ],
)
def test_windows_that_do_not_fit_the_trace_are_refused(config, message):
    with pytest.raises(BadInput, match=rf"^ff\.fits: {message}.* the 30-sample traces"):
        make_extractor(config, N_SAMPLES, source="ff.fits")
    if config.get("window_start", 0) >= 0:
        extractor = make_extractor(config, 40, source="ff.fits")  # fits longer traces
        with pytest.raises(BadInput, match=r"^ff\.fits: "):
            extractor(np.zeros((2, 1, 3, N_SAMPLES)))


def test_a_window_before_the_trace_is_a_configuration_error_not_a_bad_input():
    with pytest.raises(ValidationError, match=r"window_start\n.*greater than or equal to 0"):
        make_extractor({"name": "fixed_window", "window_start": -1}, N_SAMPLES, source="ff.fits")


def test_waveforms_of_the_wrong_rank_are_refused():
    with pytest.raises(BadInput, match=r"^w: waveforms must be \(n_events"):
        fixed_window(np.zeros((3, N_SAMPLES)), 0, 8, source="w")


# --- simulated waveform runs: 1,000 events x 2 gains x 200 pixels x 30 samples -----------------

MODEL = CameraModel(n_pixels=200, n_samples=N_SAMPLES, pulse_time=12.0, seed=11)
EXTRACTORS = {
    "fixed_window": ExtractorConfig(name="fixed_window", window_start=9, window_width=8),
    "global_peak_window": ExtractorConfig(name="global_peak_window", window_width=8, shift=3),
}


@pytest.fixture(scope="module")
def waveform_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("waveform")
    truth = simulate_run(d / "ped.fits", "PEDESTAL", 1000, MODEL, "waveform", seed=3)
    simulate_run(d / "ff.fits", "FLATFIELD", 1000, MODEL, "waveform", seed=3)
    return d / "ped.fits", d / "ff.fits", truth


def run_stats(path, config, chunk_size=300):
    header = open_run(path)
    extractor = make_extractor(config, header.n_samples, source=header.name)
    charge, peak = StreamingStats(source=header.name), StreamingStats(source=header.name)
    widths = set()
    for chunk in iter_chunks(path, header, chunk_size, extractor):
        charge.update(chunk.charge)
        peak.update(chunk.peak_time)
        widths.add(chunk.window_width)
    (width,) = widths
    return charge.result(), peak.result(), width


@pytest.mark.parametrize("name", list(EXTRACTORS))
def test_both_extractors_recover_the_gain_from_waveforms(waveform_runs, name):
    ped_path, ff_path, truth = waveform_runs
    ped, _, ped_width = run_stats(ped_path, EXTRACTORS[name])
    ff, peak, ff_width = run_stats(ff_path, EXTRACTORS[name])
    assert ped_width == ff_width == 8
    out = calibration_coefficients(ped, ff, peak["median"], ff_width)
    # the truth refers to the whole pulse; the 8-sample window holds a fraction f of it
    # (mean loss 0.08 %, at most 1.5 % for the pixels with the largest time offsets)
    fraction = contained_fraction(MODEL, 9, 8)
    assert 1 - fraction.mean() < 0.002
    rel = out["gain"] / (truth.gain * fraction) - 1
    # sqrt(2 / 1000) = 4.5 % per pixel from the variance alone; bias over 400 (gain, pixel)
    # values: statistical error ~0.25 %, tolerance 1 %
    assert np.all(np.std(rel, axis=1) < 0.06)
    assert np.all(np.abs(np.mean(rel, axis=1)) < 0.01)
    assert np.all(np.abs(np.median(out["n_pe"], axis=1) / MODEL.mu - 1) < 0.02)
    assert np.allclose(out["pedestal_offset"], truth.pedestal_per_sample, rtol=0.002)
    shift_true = truth.time_offset - np.median(truth.time_offset)
    assert np.all(np.std(out["time_shift"] - shift_true, axis=1) < 0.06)
    assert out["is_valid"] and out["faulty_fraction"] == 0


def test_extractors_without_peak_time_give_the_same_charge_and_nan_times():
    from calibd.handlers.camera.extract import make_extractor

    rng = np.random.default_rng(3)
    wf = rng.normal(size=(4, 1, 30, 40))
    for name in ("fixed_window", "global_peak_window", "local_peak_window"):
        config = {"name": name, "window_start": 10, "window_width": 12, "shift": 4}
        full = make_extractor(config, 40)(wf)
        quick = make_extractor(config, 40, peak_time=False)(wf)
        np.testing.assert_array_equal(quick.charge, full.charge)
        assert np.isnan(quick.peak_time).all() and np.isfinite(full.peak_time).all()
