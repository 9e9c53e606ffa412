"""The plot registry and the families' figures: camera calibration on a camera geometry read
from a ctapipe instrument description (written here by ctapipe's `SubarrayDescription.to_hdf`,
hexagonal LSTCam and a square-pixel camera), the per-pixel fallback, the IRF energy
resolution, a FRAM night and a series over nights; every figure a non-blank PNG."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import calibd.handlers  # noqa: F401  (registers the families' plots)
import numpy as np
import pytest
from calibd.handlers.camera.camera_view import camera_geometry
from calibd.handlers.irf.plots import energy_resolution

from calibd.arrays import arrays_blob
from calibd.config import Settings
from calibd.plotting import SERIES_PLOTTERS, can_plot, render_png, render_series_png, series_key

N_PIX = 1855


@pytest.fixture(scope="module")
def instrument(tmp_path_factory):
    """LST1-4 (hexagons) and tel 9 with a 40x40 square-pixel camera, as ctapipe writes them."""
    import astropy.units as u
    from ctapipe.instrument import (
        CameraDescription,
        CameraGeometry,
        SubarrayDescription,
        TelescopeDescription,
    )
    from ctapipe_io_zfits.instrument import build_subarray_description

    lst = build_subarray_description(2)
    square = CameraGeometry.make_rectangular(40, 40, (-0.5, 0.5), (-0.5, 0.5))
    square.name = "SquareCam"
    lst_tel = lst.tel[1]
    camera = CameraDescription("SquareCam", square, lst_tel.camera.readout)
    tel = TelescopeDescription("SQ", optics=lst_tel.optics, camera=camera)
    positions = {**lst.positions, 9: [0, 0, 0] * u.m}
    subarray = SubarrayDescription("LST+SQ", positions, {**lst.tel, 9: tel}, lst.reference_location)
    path = tmp_path_factory.mktemp("instrument") / "instrument.h5"
    subarray.to_hdf(path)
    return path


def settings_with(tmp_path, instrument=None) -> Settings:
    handlers = {"camera_block": {"instrument_file": str(instrument)}} if instrument else {}
    return Settings(data_dir=tmp_path, handlers=handlers)


def image(png: bytes) -> np.ndarray:
    from matplotlib.image import imread

    assert png.startswith(b"\x89PNG")
    return imread(io.BytesIO(png), format="png")


def colours(png: bytes) -> int:
    rgb = (image(png)[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    return len(np.unique(rgb, axis=0))


def camera_product(tel_id: int, n_pix: int) -> dict:
    rng = np.random.default_rng(tel_id)
    factor = np.vstack([np.linspace(0.8, 1.2, n_pix), np.linspace(15, 20, n_pix)])
    unusable = np.zeros(n_pix, dtype=bool)
    unusable[::97] = True
    arrays = {
        "factor": factor,
        "pedestal_offset": 400 + rng.normal(0, 2, (2, n_pix)),
        "time_shift": rng.normal(0, 0.5, (2, n_pix)),
        "unusable": unusable,
    }
    return {
        "id": f"cam{tel_id}",
        "product_type": "camera_calibration",
        "tel_id": tel_id,
        "valid_from": "2026-12-04T20:00:00.000000+00:00",
        "summary": {},
        "arrays": arrays_blob(arrays),
    }


def shoelace(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))


@pytest.mark.parametrize(("tel_id", "n_pix", "vertices"), [(1, N_PIX, 6), (9, 1600, 4)])
def test_pixel_outlines_have_the_pixels_area_and_centre(
    tmp_path, instrument, tel_id, n_pix, vertices
):
    geometry = camera_geometry(settings_with(tmp_path, instrument), tel_id, n_pix)
    assert geometry is not None and geometry.pix_x.size == n_pix
    polygons = geometry.polygons()
    assert polygons.shape == (n_pix, vertices, 2)
    areas = np.array([shoelace(p) for p in polygons[:50]])
    np.testing.assert_allclose(areas, geometry.pix_area[:50], rtol=1e-6)
    np.testing.assert_allclose(polygons[:, :, 0].mean(axis=1), geometry.pix_x, atol=1e-9)
    # neighbouring pixels touch but do not overlap: the nearest centre is one pixel pitch away
    pitch = np.sqrt(geometry.pix_area[0]) * (np.sqrt(2 / np.sqrt(3)) if vertices == 6 else 1)
    d = np.hypot(geometry.pix_x[1:] - geometry.pix_x[0], geometry.pix_y[1:] - geometry.pix_y[0])
    assert d.min() == pytest.approx(pitch, rel=1e-3)


def test_no_geometry_when_unset_unknown_telescope_or_other_pixel_count(tmp_path, instrument):
    assert camera_geometry(settings_with(tmp_path), 1, N_PIX) is None
    assert camera_geometry(settings_with(tmp_path, instrument), 5, N_PIX) is None
    assert camera_geometry(settings_with(tmp_path, instrument), 1, 100) is None
    assert camera_geometry(settings_with(tmp_path, tmp_path / "missing.h5"), 1, N_PIX) is None


def test_camera_calibration_is_drawn_on_the_camera_when_one_is_configured(tmp_path, instrument):
    prod = camera_product(1, N_PIX)
    on_camera = render_png(prod, settings_with(tmp_path, instrument))
    per_pixel = render_png(prod, settings_with(tmp_path))
    # four cameras coloured by value (a colour map) against dots and step lines
    assert colours(on_camera) > 2 * colours(per_pixel) > 100
    assert image(on_camera).shape[0] > image(per_pixel).shape[0]
    square = render_png(camera_product(9, 1600), settings_with(tmp_path, instrument))
    assert colours(square) > 200


def test_irf_energy_resolution_of_a_known_gaussian_dispersion():
    migration = np.linspace(0.2, 3.0, 281)
    centres = (migration[:-1] + migration[1:]) / 2
    sigmas = np.array([0.30, 0.20, 0.10])
    density = np.exp(-0.5 * ((centres[None, :] - 1) / sigmas[:, None]) ** 2)
    density /= (density * np.diff(migration)).sum(axis=1, keepdims=True)
    dispersion = np.stack([density, density], axis=-1)  # two offset bins
    dispersion[0, :, 1] = 0  # an empty bin
    resolution = energy_resolution(dispersion, migration)
    np.testing.assert_allclose(resolution[1:, 0], sigmas[1:], rtol=0.02)
    np.testing.assert_allclose(resolution[0, 0], sigmas[0], rtol=0.02)
    assert np.isnan(resolution[0, 1])


def test_fram_night_and_series_over_nights_are_plotted(tmp_path):
    t0 = datetime(2026, 12, 1, 20, tzinfo=UTC)
    mjd0 = 61010.8
    n = 12
    arrays = {
        "wavelength_nm": np.array([350.0, 400.0, 450.0]),
        "tau": np.array([0.05, 0.04, 0.03]),
        "tau_err": np.full(3, 0.005),
        "measurement_time_mjd": mjd0 + np.arange(n) / 48,
        "measurement_vaod": 0.03 + 0.002 * np.sin(np.arange(n)),
        "measurement_vaod_err": np.full(n, 0.003),
        "measurement_used": np.arange(n) % 5 != 0,
    }
    series = []
    for night in range(4):
        prod = {
            "id": f"fram{night}",
            "product_type": "aerosol_extinction",
            "tel_id": None,
            "category": "B",
            "valid_from": (t0 + timedelta(days=night)).isoformat(timespec="microseconds"),
            "summary": {
                "method": "fram",
                "vaod": 0.03 + 0.01 * night,
                "vaod_err": 0.004,
                "clear_night": night == 0,
                "stability": 0.005,
            },
        }
        series.append((prod, arrays))
    night = dict(series[0][0], arrays=arrays_blob(arrays))
    single = render_png(night, settings_with(tmp_path))
    spectrum_only = dict(
        night, arrays=arrays_blob({k: arrays[k] for k in ("wavelength_nm", "tau", "tau_err")})
    )
    assert image(single).shape[0] > 1.5 * image(render_png(spectrum_only))[..., 0].shape[0]
    assert series_key(series[0][0]) == ("nights", "over nights")
    over_nights = render_series_png(series, settings_with(tmp_path))
    assert colours(over_nights) > 20


def test_every_product_type_of_the_families_has_a_plot_and_types_a_series():
    for t in (
        "camera_calibration",
        "camera_pedestal",
        "molecular_extinction",
        "aerosol_extinction",
        "irf",
        "cherenkov_transparency",
        "optical_throughput_muon",
    ):
        assert can_plot(t), t
    assert {
        "camera_calibration",
        "aerosol_extinction",
        "cherenkov_transparency",
        "optical_throughput_muon",
    } <= set(SERIES_PLOTTERS)
    # a dedicated run's camera calibration has no block, so no series
    assert series_key({"product_type": "camera_calibration", "summary": {}}) is None
