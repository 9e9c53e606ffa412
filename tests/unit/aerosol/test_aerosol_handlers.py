"""FRAM data and the FRAM-down fallback chain (also from a transparency product) through the
pipeline and a real SQLite store: products, supersession of the fallback when FRAM returns,
exports, reproduction."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time

from calibd.extensions import EXPORTERS
from calibd.pipeline import load_arrays
from calibd.reproduce import reproduce
from calibd.testing import raw_message as raw
from calibd.testing import running_pipeline
from tests.conftest import example
from tests.unit.aerosol.test_fram import TRUE_VAOD, synthetic_night
from tests.unit.aerosol.test_reader import write_fram_file

MON_ACADA_FRAM = Path(__file__).resolve().parents[2] / "data" / "fram_ctapipe_mon_acada.fits"


@pytest.fixture
def handler_settings() -> dict:
    return {}


@pytest.fixture
async def env(tmp_path, handler_settings):
    async with running_pipeline(tmp_path, settings={"handlers": handler_settings}) as h:
        yield h.store, h.pipeline


def night_period(night) -> tuple[datetime, datetime]:
    start = Time(night["time_mjd"].min() - 0.01, format="mjd").to_datetime(UTC)
    return start, start + timedelta(hours=9)


def fram_message(tmp_path, night, name="fram.fits"):
    path = tmp_path / name
    write_fram_file(path, night)
    start, end = night_period(night)
    return example(
        "ctao.acada.fram_data",
        period_start=start.isoformat(),
        period_end=end.isoformat(),
        measurements=None,
        files=[{"uri": str(path)}],
    )


async def test_fram_file_to_aerosol_product_export_and_reproduction(env, tmp_path):
    store, pipeline = env
    night = synthetic_night(n=40, seed=11)
    outcome = await pipeline.process(raw(fram_message(tmp_path, night)))
    product = await store.product(outcome.product_ids[0])
    payload = product["payload"]
    assert product["product_type"] == "aerosol_extinction" and payload["method"] == "fram"
    # known VAOD recovered within 2 of its stated uncertainties (test_fram checks the pulls)
    assert abs(payload["vaod"] - TRUE_VAOD) < 2 * payload["vaod_err"]
    assert payload["reference_wavelength_nm"] == pytest.approx(400.0)
    arrays = load_arrays(product["arrays"])
    assert arrays["measurement_time_mjd"].shape == (40,)
    path = tmp_path / "aerosol.fits"
    EXPORTERS["aerosol_extinction"]({**product, "arrays": None}, arrays, path)
    with fits.open(path) as hdul:
        assert hdul["AEROSOL_EXTINCTION"].header["METHOD"] == "fram"
        assert hdul["AEROSOL_EXTINCTION"].header["TUNIT1"] == "nm"
        assert len(hdul["MEASUREMENTS"].data) == 40
    assert (await reproduce(pipeline, product["id"]))["status"] == "identical"


async def test_inline_example_and_bad_fram_inputs(env, tmp_path):
    store, pipeline = env
    ok = await pipeline.process(raw(example("ctao.acada.fram_data")))
    assert ok.status == "done" and len(ok.product_ids) == 1
    negative = example("ctao.acada.fram_data")
    negative["data"]["measurements"][0]["aod"] = -0.01
    empty = tmp_path / "empty.fits"
    write_fram_file(empty, synthetic_night(n=5), rows=slice(0, 0))
    missing_unit = tmp_path / "unitless.fits"
    write_fram_file(missing_unit, synthetic_night(n=5), ra_unit=None)
    for bad in (
        negative,
        example("ctao.acada.fram_data", measurements=None, files=[{"uri": str(empty)}]),
        example("ctao.acada.fram_data", measurements=None, files=[{"uri": str(missing_unit)}]),
    ):
        assert (await pipeline.process(raw(bad))).status == "dead"
    details = [d["detail"] for d in await store.dead_letters()]
    assert any("aod" in d and "greater than or equal to 0" in d for d in details)
    assert any(d.startswith("empty.fits") for d in details)
    assert any(d.startswith("unitless.fits") and "unit" in d for d in details)


# normalisation of the example rates (5,000 Hz, muon efficiency 0.21) to T ~ 0.95
@pytest.mark.parametrize("handler_settings", [{"cherenkov_transparency": {"k_reference": 800.0}}])
async def test_transparency_product_and_its_use_by_fram_down(env, tmp_path):
    store, pipeline = env
    rates = example("ctao.acada.trigger_rates")
    outcome = await pipeline.process(raw(rates))
    ctc = await store.product(outcome.product_ids[0])
    assert ctc["product_type"] == "cherenkov_transparency"
    assert ctc["payload"]["n_telescopes"] == len(rates["data"]["telescopes"])
    assert set(ctc["payload"]["relative_throughput"]) == {
        str(t["tel_id"]) for t in rates["data"]["telescopes"]
    }
    path = tmp_path / "ctc.fits"
    EXPORTERS["cherenkov_transparency"]({**ctc, "arrays": None}, load_arrays(ctc["arrays"]), path)
    assert fits.getheader(path, "TRANSPARENCY")["CTC"] == pytest.approx(ctc["payload"]["ctc"])
    assert (await reproduce(pipeline, ctc["id"]))["status"] == "identical"

    # FRAM down during the interval: the CTC of the same period is the first fallback
    down = example(
        "ctao.acada.fram_down",
        period_start=rates["data"]["interval_start"],
        period_end=rates["data"]["interval_end"],
    )
    fallback = await store.product((await pipeline.process(raw(down))).product_ids[0])
    t = ctc["payload"]["ctc"]
    cos_z = np.cos(np.radians(ctc["payload"]["mean_zenith_deg"]))
    assert fallback["payload"]["method"] == "ctc"
    assert fallback["payload"]["input_products"] == [ctc["id"]]
    assert fallback["payload"]["vaod"] == pytest.approx(max(0.03 - np.log(t) * cos_z, 0.0))
    assert fallback["payload"]["vaod_err"] >= 0.02  # the method's systematic widens it
    # reproduced from the CTC product as the database stood when the fallback was made
    assert (await reproduce(pipeline, fallback["id"]))["status"] == "identical"


async def test_fram_down_uses_the_last_fram_then_fram_returns_and_truncates_it(env, tmp_path):
    store, pipeline = env
    night = synthetic_night(n=30, seed=4)
    first = await pipeline.process(raw(fram_message(tmp_path, night)))
    fram_start, _ = night_period(night)
    down_start = fram_start + timedelta(hours=20)
    down = example(
        "ctao.acada.fram_down",
        period_start=down_start.isoformat(),
        period_end=(down_start + timedelta(hours=10)).isoformat(),
    )
    fallback = await store.product((await pipeline.process(raw(down))).product_ids[0])
    assert fallback["payload"]["method"] == "last_fram"
    assert fallback["payload"]["methods_without_input"] == ["ctc"]
    assert fallback["payload"]["input_products"] == first.product_ids
    old = await store.product(first.product_ids[0])
    assert fallback["payload"]["vaod_err"] > old["payload"]["vaod_err"]  # widened with age

    # FRAM returns three hours into the FRAM-down period
    back = {**night, "time_mjd": night["time_mjd"] + (down_start - fram_start).days + 20 / 24}
    back_msg = fram_message(tmp_path, back, "fram_back.fits")
    back_start = down_start + timedelta(hours=3)
    back_msg["data"]["period_start"] = back_start.isoformat()
    back_msg["data"]["period_end"] = (back_start + timedelta(hours=7)).isoformat()
    fram_back = (await pipeline.process(raw(back_msg))).product_ids[0]
    truncated = await store.product(fallback["id"])
    assert truncated["valid_to"].startswith(back_start.strftime("%Y-%m-%dT%H:%M"))
    during = await store.best_product("aerosol_extinction", None, down_start + timedelta(hours=1))
    after = await store.best_product("aerosol_extinction", None, down_start + timedelta(hours=4))
    assert during["id"] == fallback["id"] and after["id"] == fram_back


async def test_an_unnormalised_transparency_is_not_used_by_fram_down(env):
    store, pipeline = env  # k_reference left at 1: T is in the hundreds
    rates = example("ctao.acada.trigger_rates")
    await pipeline.process(raw(rates))
    down = example(
        "ctao.acada.fram_down",
        period_start=rates["data"]["interval_start"],
        period_end=rates["data"]["interval_end"],
    )
    fallback = await store.product((await pipeline.process(raw(down))).product_ids[0])
    assert fallback["payload"]["method"] == "seasonal"
    assert fallback["payload"]["methods_without_input"] == ["ctc", "last_fram"]


async def test_a_night_of_the_observatory_s_monitoring_writer_makes_a_product(env, tmp_path):
    store, pipeline = env
    path = tmp_path / "fram.fits"  # inside the data roots
    shutil.copy(MON_ACADA_FRAM, path)
    message = example(
        "ctao.acada.fram_data",
        period_start="2026-11-24T19:00:00+00:00",
        period_end="2026-11-25T06:00:00+00:00",
        measurements=None,
        files=[{"uri": str(path)}],
    )
    outcome = await pipeline.process(raw(message))
    assert outcome.status == "done", outcome.reason
    product = await store.product(outcome.product_ids[0])
    assert product["payload"]["method"] == "fram"
    assert load_arrays(product["arrays"])["measurement_time_mjd"].shape == (12,)
