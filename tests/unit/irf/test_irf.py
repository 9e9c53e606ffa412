"""IRFs from a synthetic production with a known effective area, through pyirf and gammapy."""

from __future__ import annotations

import json
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.table import QTable
from calibd.handlers.irf.compute import IrfConfig, SimulatedFileSpec, compute_irfs
from calibd.handlers.irf.handler import production_envelope
from calibd.handlers.irf.reader import read_dl2
from calibd.handlers.irf.simulate import (
    DetectorModel,
    expected_effective_area,
    simulate_production,
    write_dl2,
)

from calibd.daemon import load_handlers
from calibd.errors import BadInput
from calibd.extensions import EXPORTERS
from calibd.pipeline import load_arrays
from calibd.reproduce import reproduce
from calibd.testing import raw_message, start_pipeline

MIN_EVENTS = 4000  # a "well-populated" bin: statistical error <= 1.6 %, so 5 % is > 3 sigma
TOLERANCE = 0.05


def specs(data: dict) -> list[SimulatedFileSpec]:
    return [
        SimulatedFileSpec(
            path=f["uri"],
            **{
                k: f[k]
                for k in (
                    "particle",
                    "n_showers",
                    "energy_min_tev",
                    "energy_max_tev",
                    "spectral_index",
                    "max_impact_m",
                    "viewcone_deg",
                )
            },
        )
        for f in data["files"]
    ]


@pytest.fixture(scope="module")
def production(tmp_path_factory) -> dict:
    return simulate_production(tmp_path_factory.mktemp("prod"), 1_000_000, 500_000, seed=7)


@pytest.fixture(scope="module")
def irfs(production) -> dict:
    return compute_irfs(specs(production), {})


def test_effective_area_matches_the_analytic_truth(production, irfs):
    a, cfg = irfs["arrays"], IrfConfig()
    edges = a["true_energy_bins_tev"]
    truth = expected_effective_area(
        edges[:-1], edges[1:], DetectorModel(), 1000.0, -2.0, cfg.gh_cut, cfg.theta_cut_deg
    )
    gammas = read_dl2(Path(production["files"][0]["uri"]))
    keep = (gammas["gh_score"] >= cfg.gh_cut) & (gammas["theta"] <= cfg.theta_cut_deg * u.deg)
    counts, _ = np.histogram(gammas["true_energy"][keep].to_value(u.TeV), bins=edges)
    populated = counts >= MIN_EVENTS
    assert populated.sum() >= 6
    ratio = a["effective_area_m2"][:, 0] / truth
    assert np.all(np.abs(ratio[populated] - 1) < TOLERANCE), ratio[populated]


def test_the_plotted_energy_resolution_is_the_simulated_one(production, irfs):
    from calibd.handlers.irf.plots import energy_resolution

    a = irfs["arrays"]
    resolution = energy_resolution(a["energy_dispersion"], a["migration_bins"])[:, 0]
    edges = a["true_energy_bins_tev"]
    gammas = read_dl2(Path(production["files"][0]["uri"]))
    counts, _ = np.histogram(gammas["true_energy"].to_value(u.TeV), bins=edges)
    populated = counts >= MIN_EVENTS
    assert populated.sum() >= 6
    # reco = true x lognormal(0, sigma): half the 16-84 % range of reco/true is about sigma
    sigma = DetectorModel().energy_resolution
    np.testing.assert_allclose(resolution[populated], sigma, rtol=0.08)


def test_gammapy_reads_the_exported_gadf_file(irfs, tmp_path):
    from gammapy.irf import PSF3D, Background2D, EffectiveAreaTable2D, EnergyDispersion2D

    path = tmp_path / "irf.fits"
    product = {
        "id": "p1",
        "product_type": "irf",
        "category": "B",
        "valid_from": "2026-11-24T00:00:00.000000Z",
        "algorithm": "pyirf-point-like-irfs",
        "payload": {"production_id": "x", "zenith_deg": 20.0, "theta_cut_deg": 0.3},
    }
    load_handlers(["calibd.handlers"])
    EXPORTERS["irf"](product, irfs["arrays"], path)
    a = irfs["arrays"]
    edges = a["true_energy_bins_tev"]
    centers = np.sqrt(edges[:-1] * edges[1:]) * u.TeV
    aeff = EffectiveAreaTable2D.read(path, hdu="EFFECTIVE AREA")
    got = aeff.evaluate(energy_true=centers, offset=0.5 * u.deg).to_value(u.m**2)
    np.testing.assert_allclose(got, a["effective_area_m2"][:, 0], rtol=1e-6)
    edisp = EnergyDispersion2D.read(path, hdu="ENERGY DISPERSION")
    assert edisp.data.shape == a["energy_dispersion"].shape
    np.testing.assert_allclose(edisp.data, a["energy_dispersion"], rtol=1e-6)
    psf = PSF3D.read(path, hdu="PSF")
    np.testing.assert_allclose(psf.quantity.to_value(u.sr**-1), a["psf_sr-1"], rtol=1e-6)
    bkg = Background2D.read(path, hdu="BACKGROUND")
    np.testing.assert_allclose(
        bkg.quantity.to_value("s-1 MeV-1 sr-1"), a["background_s-1_mev-1_sr-1"], rtol=1e-6
    )


def test_gammapy_s_data_store_loads_the_point_like_irfs_with_their_rad_max(irfs, tmp_path):
    """An HDU index naming the exported file (as a DL3 production lists its IRFs): gammapy's
    DataStore loads the point-like IRFs and the theta cut, from the RAD_MAX keyword and HDU."""
    from astropy.table import Table
    from gammapy.data import DataStore
    from gammapy.irf import RadMax2D

    load_handlers(["calibd.handlers"])
    product = {
        "id": "p2",
        "product_type": "irf",
        "category": "B",
        "valid_from": "2026-11-24T00:00:00.000000Z",
        "algorithm": "pyirf-point-like-irfs",
        "payload": {"production_id": "x", "zenith_deg": 20.0, "theta_cut_deg": 0.25},
    }
    EXPORTERS["irf"](product, irfs["arrays"], tmp_path / "irf.fits")
    rows = [
        ("aeff", "aeff_2d", "EFFECTIVE AREA"),
        ("edisp", "edisp_2d", "ENERGY DISPERSION"),
        ("psf", "psf_table", "PSF"),
        ("bkg", "bkg_2d", "BACKGROUND"),
        ("rad_max", "rad_max_2d", "RAD_MAX"),
    ]
    hdu_index = Table(
        rows=[(1, t, c, ".", "irf.fits", n) for t, c, n in rows],
        names=["OBS_ID", "HDU_TYPE", "HDU_CLASS", "FILE_DIR", "FILE_NAME", "HDU_NAME"],
    )
    hdu_index.meta.update(
        {
            "HDUCLASS": "GADF",
            "HDUDOC": "x",
            "HDUVERS": "0.2",
            "HDUCLAS1": "INDEX",
            "HDUCLAS2": "HDU",
        }
    )
    hdu_index.write(tmp_path / "hdu-index.fits.gz")
    obs_index = Table(
        {"OBS_ID": [1]}, meta={"HDUCLASS": "GADF", "HDUCLAS1": "INDEX", "HDUCLAS2": "OBS"}
    )
    obs_index.write(tmp_path / "obs-index.fits.gz")
    store = DataStore.from_dir(tmp_path)
    obs = store.obs(1, required_irf="point-like", require_events=False)
    assert obs.aeff.is_pointlike and obs.edisp.is_pointlike
    assert obs.aeff.meta["RAD_MAX"] == pytest.approx(0.25)
    assert isinstance(obs.rad_max, RadMax2D)
    np.testing.assert_allclose(obs.rad_max.quantity.to_value(u.deg), 0.25)
    from_keyword = RadMax2D.from_irf(obs.aeff)
    np.testing.assert_allclose(from_keyword.quantity.to_value(u.deg), 0.25)


def test_ecsv_and_fits_inputs_give_the_same_irfs(tmp_path):
    fits_data = simulate_production(tmp_path / "f", 200_000, 0, seed=3, fmt="fits")
    ecsv_data = simulate_production(tmp_path / "e", 200_000, 0, seed=3, fmt="ecsv")
    a = compute_irfs(specs(fits_data), {})["arrays"]
    b = compute_irfs(specs(ecsv_data), {})["arrays"]
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-12, err_msg=name)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.remove_column("theta"), "column theta missing"),
        (lambda t: t.__setitem__("reco_energy", t["reco_energy"].value), "reco_energy has no unit"),
        (lambda t: t.__setitem__("theta", t["theta"].value * u.s), "not convertible to deg"),
        (lambda t: t["true_energy"].__setitem__(0, np.nan * u.TeV), "1 NaN or infinite"),
        (lambda t: t.remove_rows(slice(None)), "no events"),
    ],
)
def test_bad_dl2_files_are_refused_with_the_reason(tmp_path, mutate, message):
    table = QTable(
        {
            "true_energy": [1.0, 2.0] * u.TeV,
            "reco_energy": [1.1, 1.9] * u.TeV,
            "true_source_fov_offset": [0, 0] * u.deg,
            "reco_source_fov_offset": [0.01, 0.02] * u.deg,
            "theta": [0.05, 0.1] * u.deg,
            "gh_score": [0.9, 0.8],
        }
    )
    mutate(table)
    path = tmp_path / "bad_dl2.fits"
    write_dl2(table, path)
    with pytest.raises(BadInput, match=message) as info:
        read_dl2(path)
    assert "bad_dl2.fits" in info.value.detail
    path.write_bytes(b"SIMPLE  = garbage")
    with pytest.raises(BadInput, match="cannot read"):
        read_dl2(path)


async def test_production_message_to_product_to_gadf_and_reproduction(tmp_path):
    data = simulate_production(tmp_path / "simpipe", 300_000, 200_000, seed=11)
    h = await start_pipeline(tmp_path)
    store, pipeline = h.store, h.pipeline
    try:
        env = production_envelope(data)
        outcome = await pipeline.process(raw_message(env, key="k"))
        assert outcome.status == "done", outcome
        prod = await store.product(outcome.product_ids[0])
        assert (prod["product_type"], prod["category"]) == ("irf", "B")
        assert prod["payload"]["production_id"] == data["production_id"]
        files = json.loads(prod["provenance"]["input_files"])
        assert {Path(f["path"]).name for f in files} == {"gamma_dl2.fits", "proton_dl2.fits"}
        assert load_arrays(prod["arrays"])["effective_area_m2"].shape[1] == 1
        assert (await reproduce(pipeline, prod["id"]))["status"] == "identical"
    finally:
        await h.stop()
