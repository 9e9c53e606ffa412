"""FRAM aerosol calibration: zenith angles, a known VAOD recovered, the clear-night rule, the
Angstrom scaling (the FITS reader: test_reader.py)."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import TETE, AltAz, SkyCoord
from astropy.time import Time
from calibd.handlers.aerosol.fram import (
    FramConfig,
    aerosol_calibration,
    stratospheric_vaod,
    zenith_angles,
)
from calibd.handlers.aerosol.sites import SITES, SiteConfig, earth_location
from pydantic import ValidationError

from calibd.errors import BadInput

NORTH = earth_location("CTAO-North")
LAT, LON, _ = SITES["CTAO-North"]
NIGHT_START = Time("2026-11-20T21:00:00", scale="utc").mjd  # La Palma night, ~9 h long
TRUE_VAOD = 0.03  # tropospheric, at 400 nm
ERR = 0.004  # FRAM aod_err (slant)


def sky_positions(n: int, seed: int, zenith_deg: np.ndarray | None = None):
    """Times through the night and ICRS positions built from chosen zenith angles (AltAz -> ICRS),
    so the true zenith angle of each measurement is known by construction."""
    rng = np.random.default_rng(seed)
    t = NIGHT_START + np.sort(rng.uniform(0, 0.35, n))
    if zenith_deg is None:
        # a few exactly at the zenith, the rest at 30-60 deg
        zenith_deg = np.where(np.arange(n) % 5 == 0, 0.0, rng.uniform(30, 60, n))
    az = rng.uniform(0, 360, n)
    frame = AltAz(obstime=Time(t, format="mjd", scale="utc"), location=NORTH)
    icrs = SkyCoord(az=az * u.deg, alt=(90 - zenith_deg) * u.deg, frame=frame).icrs
    return t, icrs.ra.deg, icrs.dec.deg, np.asarray(zenith_deg, dtype=float)


def slant_aod(vaod, zenith_deg, wavelength_nm):
    """Forward model: what FRAM measures along the line of sight (troposphere + stratosphere)."""
    strat = stratospheric_vaod(wavelength_nm, 0.005, 2.0)
    return (vaod + strat) / np.cos(np.radians(zenith_deg))


def synthetic_night(n=40, seed=3, vaod=TRUE_VAOD, err=ERR, noise=1.0, wavelength=400.0):
    """FRAM measurements of a known VAOD; `noise` scales the noise drawn from aod_err."""
    t, ra, dec, z = sky_positions(n, seed)
    wl = np.broadcast_to(np.asarray(wavelength, dtype=float), (n,)).copy()
    vaod = np.broadcast_to(np.asarray(vaod, dtype=float), (n,))
    rng = np.random.default_rng(seed + 1000)
    aod = slant_aod(vaod, z, wl) + noise * rng.normal(0, err, n)
    return {
        "time_mjd": t,
        "ra_deg": ra,
        "dec_deg": dec,
        "aod": aod,
        "aod_err": np.full(n, err),
        "peak_wavelength_nm": wl,
    }


# --- zenith angles -----------------------------------------------------------------------


def test_zenith_angles_of_positions_built_from_known_altaz():
    t, ra, dec, z_true = sky_positions(60, seed=1)
    z = zenith_angles(t, ra, dec, NORTH)
    assert z.shape == (60,)
    np.testing.assert_allclose(z, z_true, atol=1e-4)


def test_star_on_the_meridian_at_transit_has_zenith_angle_dec_minus_lat():
    t = Time(NIGHT_START + np.linspace(0, 0.3, 7), format="mjd", scale="utc")
    apparent_dec = np.array([-20.0, 0.0, 10.0, 28.0, 40.0, 60.0, 80.0])
    # on the meridian: apparent right ascension = local apparent sidereal time
    lst = t.sidereal_time("apparent", longitude=LON * u.deg)
    star = SkyCoord(ra=lst, dec=apparent_dec * u.deg, frame=TETE(obstime=t)).icrs
    z = zenith_angles(t.mjd, star.ra.deg, star.dec.deg, NORTH)
    np.testing.assert_allclose(z, np.abs(apparent_dec - LAT), atol=0.1)
    np.testing.assert_allclose(z, np.abs(apparent_dec - LAT), atol=0.01)  # actual accuracy


def test_zenith_angles_against_a_hand_calculation_near_j2000():
    """Spherical astronomy with GMST (IAU 1982, UT1 ~ UTC) at an epoch where ICRS ~ equator of
    date (precession ~0.001 deg): nutation, aberration and refraction-free geometry < 0.02 deg."""
    rng = np.random.default_rng(5)
    mjd = 51545.0 + rng.uniform(0, 10, 200)
    ra, dec = rng.uniform(0, 360, 200), rng.uniform(-30, 89, 200)
    gmst = 280.46061837 + 360.98564736629 * (mjd - 51544.5)
    hour_angle = np.radians(gmst + LON - ra)
    phi, delta = np.radians(LAT), np.radians(dec)
    cos_z = np.sin(phi) * np.sin(delta) + np.cos(phi) * np.cos(delta) * np.cos(hour_angle)
    z_hand = np.degrees(np.arccos(cos_z))
    visible = z_hand < 85
    z = zenith_angles(mjd[visible], ra[visible], dec[visible], NORTH)
    np.testing.assert_allclose(z, z_hand[visible], atol=0.02)


# --- recovery ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [3, 11, 29, 47])
def test_known_vaod_recovered_within_two_sigma(seed):
    night = synthetic_night(seed=seed)
    arrays, summary = aerosol_calibration(**night, config={})
    assert summary["reference_wavelength_nm"] == 400.0
    assert summary["n_used"] == 40 and summary["n_rejected_zenith"] == 0
    assert abs(summary["mean_vaod"] - TRUE_VAOD) < 2 * summary["mean_vaod_err"]
    assert summary["mean_vaod_err"] >= summary["mean_vaod_stat_err"] > 0
    # per-measurement zenith angles are the constructed ones; errors scale with cos z
    _, _, _, z_true = sky_positions(40, seed)
    np.testing.assert_allclose(arrays["zenith_deg"], z_true, atol=1e-4)
    np.testing.assert_allclose(arrays["vaod_err"], ERR * np.cos(np.radians(z_true)), rtol=1e-5)


def test_pull_distribution_of_the_mean_vaod_is_unit_normal():
    pulls = []
    for seed in range(200):
        _, summary = aerosol_calibration(**synthetic_night(seed=seed), config={})
        pulls.append((summary["mean_vaod"] - TRUE_VAOD) / summary["mean_vaod_err"])
    pulls = np.array(pulls)
    assert abs(pulls.mean()) < 0.2
    assert 0.8 < pulls.std() < 1.2
    assert np.mean(np.abs(pulls) < 2) > 0.9


def test_measurements_beyond_max_zenith_are_excluded():
    t, ra, dec, z = sky_positions(12, seed=9, zenith_deg=np.r_[np.full(8, 40.0), np.full(4, 75)])
    aod = slant_aod(TRUE_VAOD, z, 400.0)
    aod[z > 70] = 5.0  # would dominate the mean if used
    arrays, summary = aerosol_calibration(
        t, ra, dec, aod, np.full(12, ERR), np.full(12, 400.0), config={}
    )
    assert summary["n_used"] == 8 and summary["n_rejected_zenith"] == 4
    assert np.array_equal(arrays["used"], z <= 70)
    assert np.isnan(arrays["vaod"][~arrays["used"]]).all()
    assert summary["mean_vaod"] == pytest.approx(TRUE_VAOD, abs=1e-6)


# --- clear-night rule --------------------------------------------------------------------


def test_constant_low_vaod_is_a_clear_night():
    # noise smaller than the stated errors: var(VAOD) < mean(sigma^2), F clamps to 0
    _, summary = aerosol_calibration(**synthetic_night(vaod=0.02, noise=0.5), config={})
    assert summary["stability"] == 0.0
    assert summary["clear_night"] is True


def test_variable_aerosols_are_not_a_clear_night():
    night = synthetic_night(noise=0.0)
    n = len(night["time_mjd"])
    _, _, _, z = sky_positions(n, 3)
    ramp = TRUE_VAOD + 0.008 * np.sin(np.linspace(0, 4 * np.pi, n))  # std ~0.0057
    night["aod"] = slant_aod(ramp, z, 400.0)
    _, summary = aerosol_calibration(**night, config={})
    injected = np.std(ramp, ddof=1)
    # no noise, so the excess is the injected variability minus mean(sigma^2)
    expected = np.sqrt(injected**2 - np.mean((ERR * np.cos(np.radians(z))) ** 2))
    assert summary["vaod_excess_std"] == pytest.approx(expected, rel=0.05)
    assert summary["stability"] > 0.01
    assert summary["clear_night"] is False


def test_high_vaod_is_not_a_clear_night_even_when_stable():
    _, summary = aerosol_calibration(**synthetic_night(vaod=0.05, noise=0.0), config={})
    assert summary["stability"] == 0.0
    assert summary["mean_vaod"] == pytest.approx(0.05, abs=1e-9)
    assert summary["clear_night"] is False


def test_thresholds_follow_the_configuration():
    night = synthetic_night(vaod=0.05, noise=0.0)
    _, summary = aerosol_calibration(**night, config={"clear_vaod_max": 0.06})
    assert summary["clear_night"] is True


def test_stability_is_never_nan_even_for_non_positive_mean_vaod():
    # aerosol-free night: the slant AOD is at or below the stratospheric model
    _, summary = aerosol_calibration(**synthetic_night(vaod=-0.002, noise=0.0), config={})
    assert summary["mean_vaod"] == pytest.approx(-0.002, abs=1e-9)
    assert summary["stability"] == 0.0 and summary["stability_defined"] is False
    assert summary["clear_night"] is True
    # variability beyond the errors around a mean <= 0: F = inf, not clear (never NaN)
    night = synthetic_night(vaod=-0.002, err=0.0005, noise=0.0)
    _, _, _, z = sky_positions(40, 3)
    night["aod"] = slant_aod(-0.004 + 0.004 * (np.arange(40) % 2), z, 400.0)
    _, summary = aerosol_calibration(**night, config={})
    assert summary["mean_vaod"] <= 0 and summary["vaod_excess_std"] > 0
    assert summary["stability"] == np.inf and summary["stability_defined"] is False
    assert summary["clear_night"] is False


# --- wavelength scaling ------------------------------------------------------------------


def test_angstrom_scaling_to_requested_wavelengths():
    config = {
        "requested_wavelengths_nm": [355.0, 400.0, 532.0],
        "angstrom_alpha": 1.3,
        "angstrom_alpha_err": 0.3,
    }
    arrays, summary = aerosol_calibration(**synthetic_night(noise=0.0), config=config)
    m, err = summary["mean_vaod"], summary["mean_vaod_err"]
    expected = m * (np.array([355.0, 400.0, 532.0]) / 400.0) ** -1.3
    np.testing.assert_allclose(arrays["requested_vaod"], expected, rtol=1e-12)
    assert arrays["requested_vaod"][2] == pytest.approx(0.03 * (532 / 400) ** -1.3, rel=1e-6)
    assert summary["vaod_532nm"] == pytest.approx(expected[2])
    ratio = np.array([355.0, 400.0, 532.0]) / 400.0
    expected_err = np.hypot(err * ratio**-1.3, expected * np.log(ratio) * 0.3)
    np.testing.assert_allclose(arrays["requested_vaod_err"], expected_err, rtol=1e-12)
    assert arrays["requested_vaod_err"][1] == pytest.approx(err)  # at lambda0: no alpha term
    strat = 0.005 * (np.array([355.0, 400.0, 532.0]) / 420.0) ** -2
    np.testing.assert_allclose(arrays["requested_vaod_total"], expected + strat, rtol=1e-12)


def test_mixed_wavelengths_are_scaled_to_the_median_wavelength():
    n = 41
    wl = np.where(np.arange(n) < 21, 400.0, 550.0)  # median 400 nm
    truth = TRUE_VAOD * (wl / 400.0) ** -1.3  # one aerosol population seen in two filters
    night = synthetic_night(n=n, vaod=truth, wavelength=wl, noise=0)
    _, summary = aerosol_calibration(**night, config={})
    assert summary["mixed_wavelengths"] is True
    assert summary["reference_wavelength_nm"] == 400.0
    assert summary["mean_vaod"] == pytest.approx(TRUE_VAOD, rel=1e-9)
    assert summary["stability"] == 0.0


# --- bad inputs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("aod", -0.01, "negative"),
        ("aod_err", 0.0, "<= 0"),
        ("aod_err", -1e-3, "<= 0"),
        ("peak_wavelength_nm", 250.0, "outside 300-1100 nm"),
        ("peak_wavelength_nm", 1500.0, "outside 300-1100 nm"),
        ("aod", np.nan, "NaN"),
        ("ra_deg", np.nan, "NaN"),
        ("time_mjd", np.inf, "NaN or infinite"),
    ],
)
def test_bad_measurements_are_refused(field, value, message):
    night = synthetic_night()
    night[field] = night[field].copy()
    night[field][5] = value
    with pytest.raises(BadInput, match=message):
        aerosol_calibration(**night, config={})


def test_too_few_measurements_near_the_zenith_are_refused():
    t, ra, dec, z = sky_positions(10, seed=2, zenith_deg=np.r_[40.0, 50.0, np.full(8, 75.0)])
    aod = slant_aod(TRUE_VAOD, z, 400.0)
    with pytest.raises(BadInput, match="only 2 of 10 measurements within 70 deg"):
        aerosol_calibration(t, ra, dec, aod, np.full(10, ERR), np.full(10, 400.0), config={})
    with pytest.raises(BadInput, match="no measurements"):
        aerosol_calibration([], [], [], [], [], [], config={})
    with pytest.raises(BadInput, match="9 values for 10"):
        aerosol_calibration(t, ra[:9], dec, aod, np.full(10, ERR), np.full(10, 400.0), config={})


def test_configuration_is_validated():
    with pytest.raises(
        ValidationError, match=r"requested_wavelengths_nm.1\n.*less than or equal to 700"
    ):
        FramConfig(requested_wavelengths_nm=[400.0, 800.0])
    with pytest.raises(ValidationError, match="unknown site"):
        FramConfig(site="Mauna Kea")
    with pytest.raises(ValidationError, match="all of lat_deg"):
        SiteConfig(lat_deg=10.0)
    assert FramConfig(site="CTAO-South").site.coordinates() == SITES["CTAO-South"]
    explicit = SiteConfig(name="LST-1", lat_deg=28.761526, lon_deg=-17.891497, height_m=2200)
    assert earth_location(explicit).lat.deg == pytest.approx(28.761526)


def test_southern_site_geometry():
    south = earth_location("CTAO-South")
    assert south.lat.deg == pytest.approx(-24.683428, abs=1e-6)
    assert south.lon.deg == pytest.approx(-70.316344, abs=1e-6)
    t = Time(NIGHT_START, format="mjd", scale="utc")
    zenith = SkyCoord(AltAz(obstime=t, location=south, az=0 * u.deg, alt=90 * u.deg)).icrs
    assert zenith_angles(t.mjd, zenith.ra.deg, zenith.dec.deg, {"name": "CTAO-South"})[
        ()
    ] == pytest.approx(0.0, abs=1e-4)


# --- FITS reader -------------------------------------------------------------------------
