"""Sigma-clipped statistics: same numbers as astropy, an unbiased std after the consistency
correction, exact chunk merging, and NaN handling."""

from __future__ import annotations

import warnings
from itertools import pairwise

import numpy as np
import pytest
from astropy.stats import sigma_clipped_stats
from calibd.handlers.camera.stats import (
    StreamingStats,
    clipped_stats,
    clipped_variance_fraction,
    consistency_factor,
)

from calibd.errors import BadInput


@pytest.mark.parametrize("sigma", [3.0, 4.0])
def test_clipped_stats_equal_astropy_sigma_clipped_stats(sigma):
    rng = np.random.default_rng(0)
    x = rng.standard_t(4, (1500, 2, 60)) * 10 + 100
    x[rng.random(x.shape) < 0.02] = np.nan
    x[:, 0, 3] = np.nan  # a NaN-only column
    x[5, 1, 7] = 1e9  # a gross outlier
    x[:, 1, 9] = 42.0  # a constant column
    ours = clipped_stats(x, sigma, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean, median, std = sigma_clipped_stats(
            x, sigma=sigma, maxiters=5, cenfunc="mean", stdfunc="std", axis=0
        )
    assert np.allclose(ours["mean"], mean, rtol=1e-12, equal_nan=True)
    assert np.allclose(ours["median"], median, rtol=1e-12, equal_nan=True)
    assert np.allclose(np.sqrt(ours["var"]), std, rtol=1e-9, equal_nan=True)
    assert np.isnan(ours["mean"][0, 3]) and ours["n"][0, 3] == 0
    assert ours["var"][1, 9] == 0 and ours["median"][1, 9] == 42.0
    assert np.all(ours["n"] <= ours["n_valid"])


def test_consistency_factors():
    # a Gaussian clipped at 3 (4) true sigma keeps 97.3 % (99.89 %) of its variance
    assert clipped_variance_fraction(3.0) == pytest.approx(0.97334, abs=1e-5)
    assert clipped_variance_fraction(4.0) == pytest.approx(0.998929, abs=1e-6)
    assert consistency_factor(3.0, "single") == clipped_variance_fraction(3.0)
    # iterated clipping converges to a clip at t true sigma with t = 3 sqrt(c(t)) = 2.955
    c = consistency_factor(3.0)
    t = 3.0 * np.sqrt(c)
    assert t == pytest.approx(2.9545, abs=1e-3)
    assert clipped_variance_fraction(t) == pytest.approx(c, rel=1e-12)


@pytest.fixture(scope="module")
def gaussian_charges():
    """5,000 events x 1,855 pixels, each pixel Gaussian with a known sigma between 10 and 30."""
    rng = np.random.default_rng(3)
    true_sigma = rng.uniform(10, 30, 1855)
    return rng.standard_normal((5000, 1855)) * true_sigma + 3200, true_sigma


def std_bias(charges, true_sigma, **config) -> float:
    stats = StreamingStats(config)
    for lo in range(0, len(charges), 2500):
        stats.update(charges[lo : lo + 2500])
    return float(np.mean(stats.result()["std"] / true_sigma - 1))


@pytest.mark.parametrize("sigma_clip", [3.0, 4.0])
def test_corrected_std_is_unbiased(gaussian_charges, sigma_clip):
    # statistical error of the pixel-averaged relative std: 1 / sqrt(2 x 5000 x 1855) = 0.023 %
    # (measured: -0.06 % at both thresholds with this seed); required: within 0.3 %
    bias = std_bias(*gaussian_charges, sigma=sigma_clip)
    assert abs(bias) < 0.003


def test_uncorrected_std_is_biased_at_three_sigma(gaussian_charges):
    # clipping at 3 sigma keeps 97 % of the variance: the std comes out ~1.5 % low
    raw = std_bias(*gaussian_charges, sigma=3.0, variance_correction=False)
    assert raw < -0.01
    corrected = std_bias(*gaussian_charges, sigma=3.0)
    assert corrected - raw > 0.01
    # the one-clip factor c(3) under-corrects iterated clipping by 0.18 % in std
    single = std_bias(*gaussian_charges, sigma=3.0, correction_model="single")
    assert (1 + single) / (1 + corrected) - 1 == pytest.approx(-0.00176, abs=2e-5)


def compound_poisson_variance_bias(sigma_clip: float, n_pe: float, seed: int) -> float:
    """Relative bias of the corrected clipped variance of flat-field-like charges: a Poisson
    number of photo-electrons, each of Gamma amplitude with excess noise F^2 = 1.222, plus
    1.5 p.e. of Gaussian noise (the simulator's model), 4e7 charges in all."""
    rng = np.random.default_rng(seed)
    v = 1.222 - 1
    stats = StreamingStats({"sigma": sigma_clip})
    for _ in range(40):
        n = rng.poisson(n_pe, (20_000, 50))
        amplitude = np.where(n > 0, rng.gamma(np.maximum(n, 1) / v, v), 0.0)
        stats.update(amplitude + rng.normal(0, 1.5, n.shape))
    return float(np.mean(stats.result()["std"] ** 2) / (n_pe * 1.222 + 1.5**2) - 1)


def test_the_clipping_correction_leaves_a_small_bias_on_flat_field_charges():
    """The consistency factor is exact for Gaussian charges; flat-field charges are compound
    Poisson (skewness 0.19 and excess kurtosis 0.05 at 40 p.e.), whose tails are heavier, so at
    the default 4 sigma the variance, and with it the F-factor gain, comes out low: measured
    -0.14 % at 40 p.e. and -0.08 % at 80 p.e. (statistical error 0.02 %; ffactor's docstring
    states it). At 5 sigma the truncation is negligible (measured +0.00 % and -0.03 %)."""
    at_40 = compound_poisson_variance_bias(4.0, 40, seed=7)
    at_80 = compound_poisson_variance_bias(4.0, 80, seed=8)
    assert -0.0025 < at_40 < -0.0008
    assert -0.0016 < at_80 < -0.0002
    assert abs(compound_poisson_variance_bias(5.0, 40, seed=9)) < 0.0007


def test_chunks_merge_exactly_without_clipping():
    rng = np.random.default_rng(5)
    x = rng.normal(1000, 20, (1000, 2, 30))
    stats = StreamingStats({"sigma": 50, "variance_correction": False})
    for lo, hi in pairwise([0, 1, 100, 400, 1000]):  # uneven chunks
        stats.update(x[lo:hi])
    out = stats.result()
    assert stats.n_chunks == 4 and stats.n_events == 1000
    assert np.allclose(out["mean"], x.mean(axis=0), rtol=1e-13)
    assert np.allclose(out["std"], x.std(axis=0), rtol=1e-10)
    assert np.all(out["n_events"] == 1000)
    one = StreamingStats({"sigma": 50})
    one.update(x)
    assert np.array_equal(one.result()["median"], np.median(x, axis=0))


def test_nan_charges_are_ignored_and_nan_only_pixels_get_nan():
    rng = np.random.default_rng(6)
    x = rng.normal(100, 5, (400, 2, 10))
    x[::3, 0, 1] = np.nan
    x[:, 1, 4] = np.nan
    stats = StreamingStats(source="ped.fits")
    stats.update(x[:200])
    stats.update(x[200:])
    out = stats.result()
    assert out["n_valid"][0, 1] == 400 - 134
    assert out["mean"][0, 1] == pytest.approx(np.nanmean(x[:, 0, 1]), rel=1e-12)
    assert np.isnan(out["mean"][1, 4]) and np.isnan(out["median"][1, 4])
    assert np.isnan(out["std"][1, 4]) and out["n_events"][1, 4] == 0
    assert np.isfinite(np.delete(out["std"].ravel(), 14)).all()


def test_all_nan_run_and_empty_run_are_refused():
    stats = StreamingStats(source="ped.fits")
    stats.update(np.full((50, 2, 10), np.nan))
    with pytest.raises(BadInput, match="^ped.fits: every pixel's charge is NaN"):
        stats.result()
    with pytest.raises(BadInput, match="^ff.fits: no events"):
        StreamingStats(source="ff.fits").result()
    stats = StreamingStats(source="ff.fits")
    stats.update(np.zeros((5, 2, 10)))
    with pytest.raises(BadInput, match=r"^ff.fits: chunk shape \(2, 11\) differs"):
        stats.update(np.zeros((5, 2, 11)))
