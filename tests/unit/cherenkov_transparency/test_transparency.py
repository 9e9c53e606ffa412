"""Cherenkov transparency coefficient: a known transparency and known telescope throughputs
recovered from Poisson trigger counts generated with the forward model of the definition."""

from __future__ import annotations

import numpy as np
import pytest
from calibd.handlers.cherenkov_transparency.transparency import (
    TransparencyConfig,
    cherenkov_transparency,
)
from pydantic import ValidationError

from calibd.errors import BadInput

GAMMA = 2.7
BETA = 1.4  # the default zenith_correction_exponent
K_TRUE = 250.0  # telescope-type constant: t_i = K T on any night
CONFIG = {"k_reference": K_TRUE}


def synthetic_array(
    t_true: float = 0.85,
    n: int = 8,
    seed: int = 1,
    zenith_deg: float | None = 30.0,
    duration_s: float = 60.0,
    count_seed: int | None = None,
):
    """Forward model of the definition: R_i = (K T mu_i g_i)^(Gamma-1) cos(z)^beta, measured as
    Poisson counts over `duration_s` (drawn with `count_seed`, default `seed`). Rates come out
    at ~100-300 Hz for a clear sky at the zenith."""
    rng = np.random.default_rng(seed)
    mu = rng.uniform(0.08, 0.12, n)  # true optical throughputs (muon efficiencies)
    gain = rng.uniform(0.9, 1.1, n)
    cos_beta = 1.0 if zenith_deg is None else np.cos(np.radians(zenith_deg)) ** BETA
    rate_true = (K_TRUE * t_true * mu * gain) ** (GAMMA - 1) * cos_beta
    counts = np.random.default_rng(seed if count_seed is None else count_seed + 1000).poisson(
        rate_true * duration_s
    )
    return {
        "tel_ids": np.arange(1, n + 1),
        "rates_hz": counts / duration_s,
        "muon_eff": mu,
        "gain_factor": gain,
        "zenith_deg": zenith_deg,
        "duration_s": duration_s,
    }, mu


@pytest.mark.parametrize(("t_true", "zenith"), [(1.0, 0.0), (0.85, 30.0), (0.6, 50.0)])
def test_known_transparency_and_relative_throughputs_recovered_within_two_percent(t_true, zenith):
    inputs, mu = synthetic_array(t_true=t_true, zenith_deg=zenith)
    out = cherenkov_transparency(**inputs, config=CONFIG)
    assert out["ctc"] == pytest.approx(t_true, rel=0.02)
    assert abs(out["ctc"] - t_true) < 3 * out["ctc_err"]
    np.testing.assert_allclose(out["relative_throughput"], mu / mu.mean(), rtol=0.02)
    np.testing.assert_allclose(out["t"], K_TRUE * t_true, rtol=0.03)
    # per-telescope statistical precision 1 / ((Gamma-1) sqrt(R dt))
    expected = 1 / ((GAMMA - 1) * np.sqrt(inputs["rates_hz"] * inputs["duration_s"]))
    np.testing.assert_allclose(out["t_err"] / out["t"], expected, rtol=1e-12)
    assert out["n_telescopes"] == 8 and out["too_few_telescopes"] is False
    assert out["k_n"] == K_TRUE
    assert inputs["rates_hz"].max() < 400


def test_stated_uncertainties_match_the_scatter_over_many_nights():
    ctc, ctc_err, rel, rel_err = [], [], [], []
    for seed in range(400):
        # 7 arrays, fresh counts each time
        inputs, mu = synthetic_array(seed=seed % 7, duration_s=20.0, count_seed=seed)
        out = cherenkov_transparency(**inputs, config=CONFIG)
        ctc.append(out["ctc"])
        ctc_err.append(out["ctc_err"])
        rel.append(out["relative_throughput"] - mu / mu.mean())
        rel_err.append(out["relative_throughput_err"])
    ctc_pull = (np.array(ctc) - 0.85) / np.array(ctc_err)
    assert abs(ctc_pull.mean()) < 0.15
    assert 0.8 < ctc_pull.std() < 1.2
    rel_pull = np.array(rel) / np.array(rel_err)
    assert abs(rel_pull.mean()) < 0.1
    assert 0.85 < rel_pull.std() < 1.15


def test_miscalibrated_telescope_widens_the_ctc_uncertainty():
    inputs, mu = synthetic_array()
    clean = cherenkov_transparency(**inputs, config=CONFIG)
    inputs["muon_eff"] = mu * np.r_[1.2, np.ones(7)]  # one telescope's muon efficiency is off
    off = cherenkov_transparency(**inputs, config=CONFIG)
    assert off["ctc_err"] > 3 * clean["ctc_err"]
    assert off["ctc_stat_err"] == pytest.approx(clean["ctc_stat_err"], rel=0.05)
    assert off["ctc_spread_err"] > off["ctc_stat_err"]
    # throughputs without the muon correction are unaffected
    np.testing.assert_array_equal(off["relative_throughput"], clean["relative_throughput"])


def test_multiplicity_normalisation_and_missing_zenith():
    inputs, _ = synthetic_array(t_true=0.9, n=4, zenith_deg=None)
    out = cherenkov_transparency(
        **inputs, config={"k_reference": 1.0, "k_by_multiplicity": {4: 0.95 * K_TRUE}}
    )
    assert out["k_n"] == 0.95 * K_TRUE
    assert out["ctc"] == pytest.approx(0.9 / 0.95, rel=0.02)
    at_zenith = cherenkov_transparency(**{**inputs, "zenith_deg": 0.0}, config=CONFIG)
    no_zenith = cherenkov_transparency(**inputs, config=CONFIG)
    assert at_zenith["ctc"] == no_zenith["ctc"]
    # per-telescope zenith angles and intervals are accepted too
    per_tel = cherenkov_transparency(
        **{**inputs, "zenith_deg": np.zeros(4), "duration_s": np.full(4, 60.0)}, config=CONFIG
    )
    assert per_tel["ctc"] == no_zenith["ctc"]


def test_too_few_telescopes_are_flagged_but_computed():
    inputs, _ = synthetic_array(n=2)
    out = cherenkov_transparency(**inputs, config=CONFIG)
    assert out["too_few_telescopes"] is True and out["n_telescopes"] == 2
    assert out["ctc"] == pytest.approx(0.85, rel=0.03)
    assert (
        cherenkov_transparency(**inputs, config={**CONFIG, "min_telescopes": 2})[
            "too_few_telescopes"
        ]
        is False
    )
    single, _ = synthetic_array(n=1)
    out = cherenkov_transparency(**single, config=CONFIG)
    assert out["relative_throughput"][0] == 1.0 and out["relative_throughput_err"][0] == 0.0
    assert out["ctc_err"] == pytest.approx(out["ctc_stat_err"])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rates_hz", 0.0, "rates_hz: 1 values are zero or negative"),
        ("rates_hz", -5.0, "rates_hz: 1 values are zero or negative"),
        ("rates_hz", np.nan, "rates_hz: 1 values are NaN"),
        ("muon_eff", 0.0, "muon_eff: 1 values are zero or negative"),
        ("gain_factor", np.inf, "gain_factor: 1 values are NaN or infinite"),
    ],
)
def test_bad_per_telescope_values_are_refused(field, value, message):
    inputs, _ = synthetic_array()
    inputs[field] = np.array(inputs[field], dtype=float)
    inputs[field][3] = value
    with pytest.raises(BadInput, match=message):
        cherenkov_transparency(**inputs, config=CONFIG)


def test_bad_intervals_angles_and_shapes_are_refused():
    inputs, _ = synthetic_array()
    for duration in (0.0, -60.0):
        with pytest.raises(BadInput, match="duration_s .*zero or negative"):
            cherenkov_transparency(**{**inputs, "duration_s": duration}, config=CONFIG)
    with pytest.raises(BadInput, match=r"zenith_deg: values must lie in \[0, 90\)"):
        cherenkov_transparency(**{**inputs, "zenith_deg": 95.0}, config=CONFIG)
    with pytest.raises(BadInput, match="rates_hz: 7 values for 8 telescopes"):
        cherenkov_transparency(**{**inputs, "rates_hz": inputs["rates_hz"][:7]}, config=CONFIG)
    with pytest.raises(BadInput, match="duplicates"):
        cherenkov_transparency(**{**inputs, "tel_ids": np.r_[1, np.arange(1, 8)]}, config=CONFIG)
    with pytest.raises(BadInput, match="no telescopes"):
        cherenkov_transparency([], [], [], [], None, 60.0, config=CONFIG)
    with pytest.raises(ValidationError):
        TransparencyConfig(spectral_index=1.0)
