"""Muon optical throughput: a known efficiency recovered through cuts and sigma clipping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable
from calibd.handlers.muon_throughput.muon import muon_throughput
from calibd.handlers.muon_throughput.reader import read_muon_file

from calibd.errors import BadInput
from calibd.extensions import EXPORTERS
from calibd.pipeline import load_arrays
from calibd.reproduce import reproduce
from calibd.testing import raw_message, start_pipeline
from tests.conftest import example

TRUE_EFFICIENCY = 0.182
CONFIG = {"chunk_size": 500, "min_chunk_events": 100}


def synthetic_rings(n: int = 2300, seed: int = 7) -> dict[str, np.ndarray]:
    """Rings with a known efficiency (5 % spread) plus outliers that the cuts or clipping remove.

    10 % of rings are failed fits or at a fit limit carrying wild efficiencies, 5 % lie outside
    the impact range, and 3 % of the good rings are far outliers (partial rings, 3x the truth)
    that only sigma clipping can remove.
    """
    rng = np.random.default_rng(seed)
    t0 = 61000.0
    eff = rng.normal(TRUE_EFFICIENCY, 0.05 * TRUE_EFFICIENCY, n)
    impact = rng.uniform(0.5, 9.5, n)
    fit_valid = rng.random(n) > 0.07
    at_limit = rng.random(n) < 0.03
    eff[~fit_valid | at_limit] = rng.uniform(0.0, 1.0, np.count_nonzero(~fit_valid | at_limit))
    far = rng.random(n) < 0.05
    impact[far] = rng.uniform(10.5, 20.0, far.sum())
    eff[far] *= 0.3
    wild = rng.random(n) < 0.03
    eff[wild] = 3 * TRUE_EFFICIENCY
    return {
        "time_mjd": t0 + np.sort(rng.uniform(0, 0.2, n)),
        "efficiency": eff,
        "impact_m": impact,
        "fit_valid": fit_valid,
        "at_limit": at_limit,
    }


def test_known_efficiency_recovered_within_one_percent_with_outliers():
    rings = synthetic_rings()
    out = muon_throughput(**rings, config=CONFIG)
    # tolerance from the issue: 1 % of the true efficiency, per chunk and overall
    assert np.allclose(out["mean"], TRUE_EFFICIENCY, rtol=0.01)
    assert np.allclose(out["median"], TRUE_EFFICIENCY, rtol=0.01)
    assert np.allclose(out["std"], 0.05 * TRUE_EFFICIENCY, rtol=0.15)
    assert np.allclose(out["sem"], out["std"] / np.sqrt(out["n_events"]))
    # without the cuts and the clipping the outliers bias the mean well beyond 1 %
    naive = rings["efficiency"].mean()
    assert abs(naive / TRUE_EFFICIENCY - 1) > 0.05


def test_chunks_follow_time_order_and_a_short_tail_joins_the_previous_chunk():
    rings = synthetic_rings()
    shuffle = np.random.default_rng(1).permutation(len(rings["efficiency"]))
    out = muon_throughput(**{k: v[shuffle] for k, v in rings.items()}, config=CONFIG)
    selected = int(out["n_selected"][0])
    assert out["n_input"][0] == 2300
    assert out["n_events"].sum() == selected
    # chunks of 500; the remainder (< 100) is merged into the last full chunk
    expected_chunks = selected // 500 if selected % 500 < 100 else selected // 500 + 1
    assert len(out["n_events"]) == expected_chunks
    assert np.all(np.diff(out["time_start_mjd"]) > 0)
    assert np.all(out["time_end_mjd"] >= out["time_start_mjd"])


def test_impact_cut_is_configurable():
    rings = synthetic_rings()
    wide = muon_throughput(**rings, config={**CONFIG, "impact_max_m": 25.0})
    narrow = muon_throughput(**rings, config=CONFIG)
    assert wide["n_selected"][0] > narrow["n_selected"][0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fit_valid": np.zeros(50, bool)}, "none of the 50 muon rings passes"),
        ({"time_mjd": np.full(50, np.nan)}, "NaN"),
    ],
)
def test_bad_rings_are_refused_with_the_reason(change, message):
    rings = {k: v[:50] for k, v in synthetic_rings().items()} | change
    with pytest.raises(BadInput, match=message):
        muon_throughput(**rings, config=CONFIG)


def test_empty_input_is_refused():
    empty = {k: np.array([]) for k in synthetic_rings()}
    with pytest.raises(BadInput, match="no muon rings"):
        muon_throughput(**empty, config=CONFIG)


def write_muon_file(path, rings: dict[str, np.ndarray], impact_unit=u.m) -> None:
    table = QTable(
        {
            "time": rings["time_mjd"] * u.d,
            "optical_efficiency": rings["efficiency"],
            "impact": rings["impact_m"] * impact_unit,
            "fit_valid": rings["fit_valid"],
            "at_limit": rings["at_limit"],
        }
    )
    table.meta["EXTNAME"] = "MUONS"
    table.write(path, format="fits", overwrite=True)


def test_fits_reader_honours_units_and_names_the_problem(tmp_path):
    rings = synthetic_rings(200)
    path = tmp_path / "muons.fits"
    write_muon_file(path, rings, impact_unit=u.cm)
    read = read_muon_file(str(path))
    assert np.allclose(read["impact_m"], rings["impact_m"] / 100)
    unitless = tmp_path / "unitless.fits"
    write_muon_file(unitless, rings, impact_unit=u.dimensionless_unscaled)
    assert "TUNIT3" not in fits.getheader(unitless, "MUONS")
    with pytest.raises(BadInput, match="unitless.fits: column impact has no unit"):
        read_muon_file(str(unitless))
    (tmp_path / "truncated.fits").write_bytes(path.read_bytes()[:4000])
    with pytest.raises(BadInput, match="truncated.fits: cannot read table MUONS"):
        read_muon_file(str(tmp_path / "truncated.fits"))


async def test_muon_message_to_product_export_and_reproduction(tmp_path):
    h = await start_pipeline(tmp_path)
    store, pipeline = h.store, h.pipeline
    try:
        rings = synthetic_rings()
        path = tmp_path / "muons_tel1.fits"
        write_muon_file(path, rings)
        start = datetime(2026, 11, 24, 21, tzinfo=UTC)
        inline = [
            {
                "time": (start + timedelta(seconds=i)).isoformat(),
                "optical_efficiency": TRUE_EFFICIENCY,
                "impact_m": 4.0,
                "fit_valid": True,
            }
            for i in range(3)
        ]
        from_file = example("ctao.acada.muon_data", rings=None, files=[{"uri": str(path)}])
        few = example("ctao.acada.muon_data", rings=inline)
        outcomes = [await pipeline.process(raw_message(e)) for e in (from_file, few)]
        product = await store.product(outcomes[0].product_ids[0])
        assert product["product_type"] == "optical_throughput_muon"
        assert product["summary"]["mean_optical_throughput"] == pytest.approx(
            TRUE_EFFICIENCY, rel=0.01
        )
        assert product["summary"]["sufficient_statistics"] is True
        small = await store.product(outcomes[1].product_ids[0])
        assert small["summary"]["sufficient_statistics"] is False
        arrays = load_arrays(product["arrays"])
        out = tmp_path / "throughput.fits"
        EXPORTERS["optical_throughput_muon"]({**product, "arrays": None}, arrays, out)
        with fits.open(out) as hdul:
            assert hdul["THROUGHPUT"].header["TEL_ID"] == 1
            assert hdul["THROUGHPUT"].header["TUNIT1"] == "d"
            assert len(hdul["THROUGHPUT"].data) == len(arrays["mean"])
        assert (await reproduce(pipeline, product["id"]))["status"] == "identical"

        bad = example("ctao.acada.muon_data", rings=None, files=[{"uri": "/etc/passwd"}])
        outcome = await pipeline.process(raw_message(bad))
        assert not outcome.product_ids
        letters = await store.dead_letters()
        assert any(
            d["reason"] == "bad_input" and "outside the data roots" in d["detail"] for d in letters
        )
    finally:
        await h.stop()
