"""The `.h5` export of `aerosol_extinction` in calibpipe 0.8's layout, from the real FRAM and
FRAM-down handlers, read back with PyTables and with ctapipe's `read_table`."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
import tables
from calibd.handlers.aerosol.reference_hdf5 import AEROSOL_TABLE, EXTINCTION_TABLE

from calibd.extensions import EXPORTERS, ExportJob, find_exporter
from calibd.pipeline import load_arrays
from calibd.testing import raw_message as raw
from calibd.testing import running_pipeline
from tests.conftest import example
from tests.unit.aerosol.test_aerosol_handlers import fram_message, night_period
from tests.unit.aerosol.test_fram import synthetic_night

#: what calibpipe 0.8 itself writes (ClearNightAnalysis.finish, ctapipe 0.32 write_table, run
#: on Python 3.12 outside calibd on VAOD computed as its start() does: notes/calibpipe-hdf5.md)
REFERENCE_PATH = "/dl1/monitoring/aerosol_calibration"
REFERENCE_COLUMNS = ["night_assessment", "VAOD", "fractional_rms_variability_amplitude"]
REFERENCE_ATTRS = {
    "CTAFIELD_0_TRANSFORM": "string",
    "CTAFIELD_1_TRANSFORM": "quantity",
    "CTAFIELD_1_UNIT": "",
    "CTAFIELD_2_TRANSFORM": "quantity",
    "CTAFIELD_2_UNIT": "",
}


@pytest.fixture
def handler_settings() -> dict:
    return {}


@pytest.fixture
async def products(tmp_path, handler_settings):
    async with running_pipeline(tmp_path, settings={"handlers": handler_settings}) as h:
        night = synthetic_night(n=40, seed=11)
        fram = await h.store.product(
            (await h.process(fram_message(tmp_path, night))).product_ids[0]
        )
        start, _ = night_period(night)
        down_start = start + timedelta(hours=20)
        down = example(
            "ctao.acada.fram_down",
            period_start=down_start.isoformat(),
            period_end=(down_start + timedelta(hours=10)).isoformat(),
        )
        fallback = await h.store.product((await h.pipeline.process(raw(down))).product_ids[0])
        yield h.settings, fram, fallback


def export(settings, product, path):
    arrays = load_arrays(product["arrays"])
    found = find_exporter("aerosol_extinction", path)
    assert found is not EXPORTERS["aerosol_extinction"]  # the suffix exporter
    found.fn(ExportJob(path, product, arrays, [(product, arrays)], settings))
    return arrays


def check_reference_table(h5, product):
    table = h5.get_node(REFERENCE_PATH)
    assert table.colnames == REFERENCE_COLUMNS
    assert table.dtype["VAOD"] == np.float64
    assert table.dtype["fractional_rms_variability_amplitude"] == np.float64
    assert table.dtype["night_assessment"].kind == "S"
    for key, value in REFERENCE_ATTRS.items():
        assert table.attrs[key] == value, key
    assert table.attrs["CTAFIELD_0_MAXLEN"] == table.dtype["night_assessment"].itemsize
    assert table.attrs["CALIBD_PRODUCT_ID"] == product["id"]
    assert table.attrs["CALIBD_METHOD"] == product["payload"]["method"]
    rows = table.read()
    assert len(rows) == 1
    assert rows["VAOD"][0] == product["payload"]["vaod"]
    return rows[0]


async def test_fram_product_in_calibpipe_s_layout(products, tmp_path):
    settings, fram, _ = products
    out = tmp_path / "aerosol.h5"
    arrays = export(settings, fram, out)
    payload = fram["payload"]
    with tables.open_file(out) as h5:
        names = sorted(n._v_pathname for n in h5.walk_nodes("/", "Table"))
        assert names == sorted([REFERENCE_PATH, EXTINCTION_TABLE])
        row = check_reference_table(h5, fram)
        assert row["fractional_rms_variability_amplitude"] == payload["stability"]
        expected = b"Clear Night" if payload["clear_night"] else b"Undefined"
        assert row["night_assessment"] == expected
        ext = h5.get_node(EXTINCTION_TABLE)
        assert ext.attrs["CTAFIELD_0_UNIT"] == "nm"
        np.testing.assert_array_equal(ext.col("wavelength"), arrays["wavelength_nm"])
        np.testing.assert_array_equal(ext.col("tau"), arrays["tau"])
        np.testing.assert_array_equal(ext.col("tau_err"), arrays["tau_err"])


@pytest.mark.parametrize(
    "handler_settings", [{"fram": {"clear_stability_max": 1.0, "clear_vaod_max": 1.0}}]
)
async def test_a_clear_night_is_assessed_so(products, tmp_path):
    settings, fram, _ = products
    assert fram["payload"]["clear_night"] is True
    out = tmp_path / "clear.h5"
    export(settings, fram, out)
    with tables.open_file(out) as h5:
        row = check_reference_table(h5, fram)
        # calibpipe's own file for a clear night: S11, CTAFIELD_0_MAXLEN 11
        assert h5.get_node(REFERENCE_PATH).dtype["night_assessment"] == np.dtype("S11")
        assert row["night_assessment"] == b"Clear Night"


async def test_fallback_product_has_no_variability(products, tmp_path):
    settings, _, fallback = products
    out = tmp_path / "fallback.h5"
    export(settings, fallback, out)
    with tables.open_file(out) as h5:
        row = check_reference_table(h5, fallback)
        assert math.isnan(row["fractional_rms_variability_amplitude"])
        assert row["night_assessment"] == b"Undefined"
        # calibpipe's own file for an undefined night: S9, CTAFIELD_0_MAXLEN 9
        assert h5.get_node(REFERENCE_PATH).dtype["night_assessment"] == np.dtype("S9")


async def test_ctapipe_reads_it(products, tmp_path):
    read_table = pytest.importorskip("ctapipe.io").read_table
    settings, fram, _ = products
    out = tmp_path / "aerosol.h5"
    arrays = export(settings, fram, out)
    table = read_table(out, AEROSOL_TABLE)
    assert table.colnames == REFERENCE_COLUMNS
    assert table["night_assessment"][0] in ("Clear Night", "Undefined")
    assert float(table["VAOD"][0]) == fram["payload"]["vaod"]
    assert table.meta["CALIBD_METHOD"] == "fram"
    ext = read_table(out, EXTINCTION_TABLE)
    assert str(ext["wavelength"].unit) == "nm"
    np.testing.assert_array_equal(ext["wavelength"].value, arrays["wavelength_nm"])
