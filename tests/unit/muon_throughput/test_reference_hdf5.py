"""The `.h5` export of `optical_throughput_muon` in calibpipe 0.8's layout, from the real
handler, read back with PyTables and with ctapipe's `read_table`."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import tables
from astropy.time import Time
from calibd.handlers.muon_throughput.reference_hdf5 import THROUGHPUT_GROUP

from calibd.extensions import EXPORTERS, ExportJob, find_exporter
from calibd.pipeline import load_arrays
from calibd.testing import running_pipeline
from tests.conftest import example
from tests.unit.muon_throughput.test_muon import synthetic_rings, write_muon_file

#: what calibpipe 0.8 itself writes (CalculateThroughputWithMuons.finish, ctapipe 0.32
#: write_table, run on Python 3.12 outside calibd: notes/calibpipe-hdf5.md), for tel 1
REFERENCE_PATH = "/dl1/monitoring/telescope/calibration/optical_throughput/muon/tel_001"
REFERENCE_DTYPE = [
    ("mean", "<f8", ()),
    ("median", "<f8", ()),
    ("std", "<f8", ()),
    ("sem", "<f8", ()),
    ("method", "S10", ()),
    ("time_start", "<u4", (2,)),
    ("time_end", "<u4", (2,)),
    ("obs_id", "<i4", ()),
    ("n_events", "<i8", ()),
]
REFERENCE_ATTRS = {
    "CTAFIELD_4_MAXLEN": 10,
    "CTAFIELD_4_TRANSFORM": "string",
    "CTAFIELD_5_TIME_FORMAT": "ctao_high_res",
    "CTAFIELD_5_TIME_SCALE": "tai",
    "CTAFIELD_5_TRANSFORM": "time",
    "CTAFIELD_6_TIME_FORMAT": "ctao_high_res",
    "CTAFIELD_6_TIME_SCALE": "tai",
    "CTAFIELD_6_TRANSFORM": "time",
}


async def _run_handler(tmp_path):
    async with running_pipeline(tmp_path) as h:
        rings = synthetic_rings()
        path = tmp_path / "muons_tel1.fits"
        write_muon_file(path, rings)
        msg = example("ctao.acada.muon_data", rings=None, files=[{"uri": str(path)}])
        outcome = await h.process(msg)
        return h.settings, await h.store.product(outcome.product_ids[0])


@pytest.fixture
def exported(tmp_path):
    """The real handler's product (pipeline stopped), exported through its `.h5` exporter."""
    settings, product = asyncio.run(_run_handler(tmp_path))
    arrays = load_arrays(product["arrays"])
    out = tmp_path / "throughput.h5"
    export = find_exporter("optical_throughput_muon", out)
    assert export is not EXPORTERS["optical_throughput_muon"]  # the suffix exporter
    export.fn(ExportJob(out, product, arrays, [(product, arrays)], settings))
    return product, arrays, out


def test_layout_is_calibpipe_s(exported):
    product, arrays, out = exported
    assert product["tel_id"] == 1
    with tables.open_file(out) as h5:
        tables_ = [n._v_pathname for n in h5.walk_nodes("/", "Table")]
        assert tables_ == [REFERENCE_PATH]
        table = h5.get_node(REFERENCE_PATH)
        assert table.dtype == np.dtype(REFERENCE_DTYPE)
        for key, value in REFERENCE_ATTRS.items():
            assert table.attrs[key] == value, key
        assert not any(k.startswith("CTAFIELD_7") for k in table.attrs._v_attrnamesuser)
        assert table.attrs["CALIBD_PRODUCT_ID"] == product["id"]
        rows = table.read()
    assert len(rows) == len(arrays["mean"]) >= 2
    for k in ("mean", "median", "std", "sem"):
        np.testing.assert_array_equal(rows[k], arrays[k])
    np.testing.assert_array_equal(rows["n_events"], arrays["n_events"].astype(np.int64))
    assert set(rows["method"]) == {b"Muon Rings"}
    # a scalar obs_id per row: the product's observation
    assert rows["obs_id"].shape == (len(rows),)
    assert set(rows["obs_id"]) == {product["payload"]["obs_id"]}
    # ctao_high_res: TAI seconds since 1970-01-01 TAI and quarter nanoseconds
    start = Time(arrays["time_start_mjd"], format="mjd", scale="utc")
    back = Time(rows["time_start"][:, 0], rows["time_start"][:, 1] * 0.25e-9, format="unix_tai")
    assert np.all(np.abs((back - start).to_value("s")) < 1e-6)


def test_ctapipe_reads_it(exported):
    assert f"{THROUGHPUT_GROUP}/tel_001" == REFERENCE_PATH
    read_table = pytest.importorskip("ctapipe.io").read_table
    _, arrays, out = exported
    table = read_table(out, REFERENCE_PATH)
    assert table.colnames == [name for name, *_ in REFERENCE_DTYPE]
    assert isinstance(table["time_start"], Time) and table["time_start"].scale == "tai"
    start = Time(arrays["time_start_mjd"], format="mjd", scale="utc")
    end = Time(arrays["time_end_mjd"], format="mjd", scale="utc")
    assert np.all(np.abs((table["time_start"] - start).to_value("s")) < 1e-6)
    assert np.all(np.abs((table["time_end"] - end).to_value("s")) < 1e-6)
    assert list(table["method"]) == ["Muon Rings"] * len(table)
    np.testing.assert_array_equal(table["mean"], arrays["mean"])


def test_the_command_line_export_writes_the_same_file(exported, tmp_path):
    """`calibd product export ID -o F.h5` picks the reference exporter; `.fits` stays FITS."""
    from calibd.cli import main

    product, _, direct = exported
    base = ["--data-dir", str(tmp_path), "product", "export", product["id"], "-o"]
    assert main([*base, str(tmp_path / "cli.h5")]) == 0
    with tables.open_file(direct) as a, tables.open_file(tmp_path / "cli.h5") as b:
        np.testing.assert_array_equal(
            a.get_node(REFERENCE_PATH).read(), b.get_node(REFERENCE_PATH).read()
        )
    assert main([*base, str(tmp_path / "cli.fits")]) == 0
    assert (tmp_path / "cli.fits").read_bytes()[:6] == b"SIMPLE"
