"""An observation block of interleaved calibration events in 4 parallel DL0 streams (ACADA's
layout, written with protozfits) -> the camera calibration time series, against the known
residual truth with the issue's tolerances."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from calibd.handlers.camera.block_compute import block_headers, compute_block
from calibd.handlers.camera.dl0_simulate import simulate_dl0_block
from calibd.handlers.camera.ffactor import Outlier
from scipy.stats import norm

from calibd.errors import BadInput

DEAD, HOT, NOISY = [3, 250, 700], [5, 300, 800], [7, 350, 900]
MODEL = {"n_pixels": 1000, "n_samples": 40, "dead": DEAD, "hot": HOT, "noisy": NOISY, "seed": 21}
N_EVENTS = 3000  # 1,500 flat-field and 1,500 pedestal events
CONFIG = {"series": {"chunk_size": 1000, "overlap": 250}}
NS_PER_SAMPLE = 1e3 / 1024.0


@pytest.fixture(scope="module")
def block(tmp_path_factory):
    directory = tmp_path_factory.mktemp("dl0")
    truth = simulate_dl0_block(
        directory,
        MODEL,
        N_EVENTS,
        tel_id=1,
        sb_id=4_000_000_101,
        obs_id=4_000_000_201,
        start=datetime(2026, 1, 1, 22, tzinfo=UTC),
        chunk_size=250,
        seed=8,
    )
    return truth, compute_block(list(truth.files), CONFIG)


def test_the_block_is_read_from_all_streams_and_chunks(block):
    truth, out = block
    assert len(truth.files) == 12 and out["streams"] == ["SDH000", "SDH001", "SDH002", "SDH003"]
    assert out["n_events"] == {"pedestal": 1500, "flatfield": 1500}
    assert (out["tel_id"], out["obs_id"], out["level"]) == (1, 4_000_000_201, "DL0")
    rows = out["rows"]
    assert len(rows) == 2  # [0, 1000) and the last 1,000 flat-field events
    assert rows[0]["valid_to"] == rows[1]["valid_from"] and rows[1]["valid_to"] is None
    assert all(r["flatfield_events"] == r["pedestal_events"] == 1000 for r in rows)


def test_coefficients_recover_the_residual_truth_within_the_tolerances(block):
    truth, out = block
    good = ~truth.bad
    offsets = truth.time_offset - np.median(truth.time_offset[good])
    for row in out["rows"]:
        c = row["coefficients"]
        gain = c["gain"][0, good] / truth.relative_gain[0, good]
        # camera median within 0.5 % (measured -0.1 to -0.3 %: the 4-sigma clip's bias on
        # flat-field charges, see ffactor); per pixel sqrt(2/1000) ~ 4.5 % from the variance
        assert abs(np.median(gain) - 1) < 0.005
        assert np.std(gain) < 0.055
        # residual pedestal within 0.05 p.e. per sample (measured rms 0.001)
        assert (
            np.max(np.abs(c["pedestal_offset"][0, good] - truth.pedestal_residual[0, good])) < 0.05
        )
        # time shift rms < 0.1 ns (measured 0.035 ns)
        err_ns = c["time_shift_ns"][0, good] - offsets[good] * NS_PER_SAMPLE
        assert np.sqrt(np.mean(err_ns**2)) < 0.1
        assert np.allclose(c["time_shift_ns"], c["time_shift"] * NS_PER_SAMPLE, equal_nan=True)


def test_faulty_pixels_are_found_with_few_false_flags(block):
    truth, out = block
    injected = np.zeros(truth.bad.shape, bool)
    injected[DEAD + HOT + NOISY] = True
    for row in out["rows"]:
        flagged = row["coefficients"]["pixel_outlier_mask"] != 0
        assert np.mean(flagged[injected]) >= 0.95  # recall (measured 100 %)
        assert np.mean(flagged[~injected]) <= 0.01  # false flags (measured 0)


def test_files_of_different_blocks_or_no_pedestals_are_refused(tmp_path):
    start = datetime(2026, 1, 1, 22, tzinfo=UTC)
    small = {"n_pixels": 50, "n_samples": 40, "seed": 3}
    a = simulate_dl0_block(
        tmp_path / "a", small, 8, tel_id=1, sb_id=1, obs_id=10, start=start, chunk_size=8, seed=1
    )
    b = simulate_dl0_block(
        tmp_path / "b", small, 8, tel_id=1, sb_id=1, obs_id=11, start=start, chunk_size=8, seed=2
    )
    with pytest.raises(BadInput, match="obs_id 11 differs .* not one observation block"):
        block_headers([a.files[0], b.files[0]])
    only_flatfield = {**CONFIG, "pedestal_event_types": [5]}  # none of the block's events
    with pytest.raises(BadInput, match="no pedestal events"):
        compute_block(list(a.files), only_flatfield)


def test_gain_selected_events_that_switch_gain_are_split_by_gain_and_flagged(tmp_path):
    """Pixels lit near the gain-switch threshold store some flat-field events in low gain; the
    rest of the chunk is then a truncated sample, so such pixels are flagged, never averaged."""
    model = {"n_pixels": 400, "n_samples": 40, "illumination_spread": 0.15, "seed": 5}
    threshold = 130.0
    truth = simulate_dl0_block(
        tmp_path, model, 2000, tel_id=1, sb_id=1, obs_id=2, chunk_size=500, seed=3,
        start=datetime(2026, 1, 1, 22, tzinfo=UTC), gain_switch_pe=threshold,
    )  # fmt: skip
    c = compute_block(list(truth.files), {"series": {"chunk_size": 1000}})["rows"][0][
        "coefficients"
    ]
    assert c["factor"].shape == c["measured"].shape == (2, 400)
    # the share of low-gain events against its expectation (charge ~ N(mu, mu F^2))
    mu = truth.n_pe_mean
    expected = norm.sf((threshold - mu) / np.sqrt(mu * truth.model.f2))
    share = c["gain_minority_share"]
    assert np.max(np.abs(share - np.minimum(expected, 1 - expected))) < 0.05
    mixed = np.bitwise_or.reduce(c["outlier_mask"], axis=0) & Outlier.GAIN_MIXED != 0
    assert np.array_equal(mixed, share > 0.001)
    assert mixed[expected > 0.01].all() and 0 < mixed.sum() < 200
    # the pixels left usable are calibrated as without gain switching (issue's 0.5 %)
    usable = (c["pixel_outlier_mask"] == 0) & ~truth.bad
    gain = c["gain"][0, usable] / truth.relative_gain[0, usable]
    assert usable.sum() > 200 and abs(np.median(gain) - 1) < 0.005 and np.std(gain) < 0.055
    # high gain measured where it dominates; the other gain keeps ACADA's nominal calibration
    assert c["measured"][0, expected < 0.5].all() and not c["measured"][1, expected < 0.5].any()
    low = ~c["measured"]
    assert (c["factor_applied"][low] == 1).all() and (c["pedestal_offset"][low] == 0).all()
    assert (c["time_shift_applied"][low] == 0).all()
    for key in ("factor_applied", "pedestal_offset", "time_shift_applied"):
        assert np.isfinite(c[key]).all(), key
