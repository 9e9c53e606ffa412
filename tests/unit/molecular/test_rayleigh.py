"""Molecular (Rayleigh) extinction against published values, and the weather handler."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from calibd.handlers.molecular import rayleigh

from calibd.errors import BadInput
from calibd.extensions import EXPORTERS
from calibd.pipeline import load_arrays
from calibd.reproduce import reproduce
from calibd.testing import raw_message, start_pipeline
from tests.conftest import example

# Vertical Rayleigh optical depth of the standard atmosphere from sea level (1013.25 hPa):
# Bucholtz (1995), Appl. Opt. 34, 2765, Table 5 (as quoted in ../shared/domain.md).
PUBLISHED = {350.0: 0.629, 400.0: 0.360, 500.0: 0.143}
TOLERANCE = 0.02


def test_sea_level_standard_atmosphere_matches_published_optical_depths():
    h, p, t = rayleigh.extend_standard_atmosphere(0.0, 1013.25, 288.15)
    wl = np.array(list(PUBLISHED))
    numeric = rayleigh.optical_depth(wl, h, p, t, co2_ppm=360)["tau"][:, -1]
    hydrostatic = rayleigh.tau_hydrostatic(wl, 1013.25, co2_ppm=360)
    for got in (numeric, hydrostatic):
        np.testing.assert_allclose(got, list(PUBLISHED.values()), rtol=TOLERANCE)
    np.testing.assert_allclose(numeric, hydrostatic, rtol=0.005)  # two methods agree


def test_standard_atmosphere_profile_and_wavelength_scaling():
    h, p, t = rayleigh.extend_standard_atmosphere(0.0, 1013.25, 288.15)
    assert np.interp(11_000, h, p) == pytest.approx(226.32, rel=0.003)  # USSA-1976
    assert np.interp(11_000, h, t) == pytest.approx(216.65, abs=0.01)
    sigma = rayleigh.cross_section_cm2(np.array([400.0, 800.0 / 2]))
    assert sigma[0] == pytest.approx(sigma[1])
    ratio = (
        rayleigh.cross_section_cm2(np.array([350.0]))[0]
        / rayleigh.cross_section_cm2(np.array([700.0]))[0]
    )
    assert 16 < ratio < 18.5  # ~ lambda^-4 with dispersion of n and the King factor


@pytest.mark.parametrize("wavelengths", [[150.0], [400.0, 900.0], [float("nan")]])
def test_wavelengths_outside_200_700_nm_are_refused(wavelengths):
    with pytest.raises(BadInput, match="200-700 nm"):
        rayleigh.cross_section_cm2(np.array(wavelengths))


def test_bad_profiles_are_refused():
    with pytest.raises(BadInput, match="increase"):
        rayleigh.optical_depth(np.array([400.0]), [0, 10, 5], [1000, 900, 950], [280, 275, 276])
    with pytest.raises(BadInput, match="NaN"):
        rayleigh.optical_depth(np.array([400.0]), [0, 10], [1000, float("nan")], [280, 275])
    with pytest.raises(BadInput, match="ground reading out of range"):
        rayleigh.extend_standard_atmosphere(2200.0, -5.0, 280.0)


async def test_weather_message_to_molecular_product_export_and_reproduction(tmp_path):
    h = await start_pipeline(tmp_path)
    store, pipeline = h.store, h.pipeline
    try:
        ground = example("ctao.acada.weather")  # La Palma: 2200 m, 787 hPa
        levels = [
            {
                "altitude_m": 2200.0 + 1000 * i,
                "pressure_hpa": 787.0 * np.exp(-i / 8.0),
                "temperature_k": 281.0 - 6.5 * i,
            }
            for i in range(20)
        ]
        profile = example("ctao.acada.weather", ground=None, profile=levels)
        outcomes = [await pipeline.process(raw_message(e)) for e in (ground, profile)]
        a = await store.product(outcomes[0].product_ids[0])
        b = await store.product(outcomes[1].product_ids[0])
        # from 2200 m the column is 787/1013.25 of sea level's
        expected = 0.360 * 787.0 / 1013.25
        assert a["summary"]["tau_400nm"] == pytest.approx(expected, rel=TOLERANCE)
        assert a["payload"]["source"] == "ground reading"
        assert b["payload"]["source"] == "profile" and b["summary"]["tau_400nm"] > 0
        arrays = load_arrays(a["arrays"])
        assert arrays["tau"].shape == (51, len(arrays["altitude_m"]))
        path = tmp_path / "molecular.fits"
        EXPORTERS["molecular_extinction"]({**a, "arrays": None}, arrays, path)
        with fits.open(path) as hdul:
            assert hdul["OPTICAL_DEPTH"].header["TUNIT1"] == "nm"
            assert hdul["PROFILE"].header["TUNIT2"] == "hPa"
        assert (await reproduce(pipeline, a["id"]))["status"] == "identical"
    finally:
        await h.stop()


def test_optical_depth_is_exact_for_an_exponential_atmosphere_on_1_km_levels():
    """An isothermal atmosphere (scale height 8 km) has beta = beta0 exp(-h/H), whose optical
    depth up to h is beta0 H (1 - exp(-h/H)); levels 1 km apart, as in a sounding."""
    scale_m = 8000.0
    h = np.arange(0.0, 30_001.0, 1000.0)
    t = np.full_like(h, 250.0)
    p = 1000.0 * np.exp(-h / scale_m)
    wl = np.array([350.0, 500.0])
    got = rayleigh.optical_depth(wl, h, p, t)
    beta0 = got["beta_m1"][:, :1]
    truth = beta0 * scale_m * (1 - np.exp(-h / scale_m))[None, :]
    np.testing.assert_allclose(got["tau"][:, 1:], truth[:, 1:], rtol=1e-9)
    beta = got["beta_m1"]
    trapezoid = np.sum(0.5 * (beta[:, 1:] + beta[:, :-1]) * np.diff(h), axis=1)
    assert np.all(trapezoid / truth[:, -1] - 1 > 1e-3)  # what the trapezoid rule gave
    flat = rayleigh.log_linear_layers(np.array([[2.0, 2.0, 2.0 * (1 + 1e-9)]]), np.ones(2))
    np.testing.assert_allclose(flat, [[2.0, 2.0]], rtol=1e-9)  # b0 == b1: b0 dh
