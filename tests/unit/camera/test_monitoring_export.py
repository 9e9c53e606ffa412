"""The issue's cross-check: a simulated LST-like DL0 block (tel 1, 1855 pixels, 40 samples)
-> the camera_block handler through the pipeline -> `calibd product export ID -o F.h5` ->
ctapipe 0.28's `ctapipe-process` with `HDF5MonitoringSource` on the block's DL0 files: the DL1
images of the flat-field events are their photo-electrons, much better than without the file.
The instrument description is ctapipe-io-zfits' own, written from the DL0 source's subarray."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
import tables
from astropy.time import Time
from calibd.handlers.camera.dl0_simulate import flatfield_amplitude, simulate_dl0_block
from calibd.handlers.camera.monitoring_hdf5 import COEFFICIENTS_GROUP, PIXEL_STATISTICS_GROUP

from calibd.arrays import load_arrays
from calibd.cli_commands import cmd_product_export
from calibd.config import AcadaTriggerSettings
from calibd.errors import ConfigurationError
from calibd.extensions import EXPORTERS, SuffixExporter, find_exporter
from calibd.store import parse_time
from calibd.testing import eventually, raw_message, running_pipeline
from calibd.transports.acada_triggers.source import trigger_event

N_PIX = 1855
DEAD, HOT = [3, 250, 700], [5, 300, 800]
# no illumination spread: a flat-fielded image is then each pixel's own photo-electrons
MODEL = {
    "n_pixels": N_PIX,
    "n_samples": 40,
    "dead": DEAD,
    "hot": HOT,
    "illumination_spread": 0.0,
    "seed": 11,
}
N_EVENTS = 1200  # 600 flat-field and 600 pedestal events, one chunk file per stream
START = datetime(2026, 1, 1, 22, tzinfo=UTC)
BLOCK = {"tel_id": 1, "sb_id": 4_000_000_101, "obs_id": 4_000_000_201, "start": START}
CHUNKS = {"chunk_size": 300, "overlap": 100}  # [0,300) [200,500) [300,600): 3 products
# the camera_block flat-field extractor's window, without ctapipe's pulse-shape correction
CTAPIPE_EXTRACTOR = [
    "--CameraCalibrator.image_extractor_type=LocalPeakWindowSum",
    "--LocalPeakWindowSum.window_width=12",
    "--LocalPeakWindowSum.window_shift=4",
    "--LocalPeakWindowSum.apply_integration_correction=False",
]
ENV = {**os.environ, "CTAPIPE_IO_ZFITS_NO_SERVICE_DATA": "1"}


def _settings(instrument: Path | None) -> dict:
    # quiet_s long: the newest file's wait computes the block, the others step aside
    block = {"settle_s": 0.3, "quiet_s": 60.0, "block": {"series": CHUNKS}}
    if instrument is not None:
        block["instrument_file"] = str(instrument)
    return {"handlers": {"camera_block": block}}


def _instrument(dl0_file: str, path: Path) -> Path:
    """ctapipe-io-zfits' description of the telescope, as its event source gives it."""
    from ctapipe.io import EventSource

    os.environ.setdefault("CTAPIPE_IO_ZFITS_NO_SERVICE_DATA", "1")
    with EventSource(dl0_file) as source:
        source.subarray.to_hdf(path)
    return path


async def _run_block(tmp: Path, names: list[str], triggers: list[dict], instrument: Path):
    async with running_pipeline(tmp, settings=_settings(instrument)) as h:
        for name, payload in zip(names, triggers, strict=True):
            message = raw_message(payload, key=name, transport="acada-trigger")
            assert (await h.pipeline.process(message)).status == "done"

        async def three():
            rows = await h.store.products(product_type="camera_calibration", limit=100)
            return rows if len(rows) >= 3 else None

        rows = await eventually(three, timeout=60)
        stored = [await h.store.product(r["id"]) for r in rows]
        return h.settings, sorted(stored, key=lambda p: p["summary"]["chunk"])


async def _export(settings, product_id: str, output: Path) -> int:
    args = argparse.Namespace(product_id=product_id, output=output, overwrite=False)
    return await cmd_product_export(settings, args)


@pytest.fixture(scope="module")
def block(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("block")
    directory = tmp / "dl0"
    truth = simulate_dl0_block(directory, MODEL, N_EVENTS, chunk_size=10_000, seed=5, **BLOCK)
    names = [Path(f).name for f in truth.files]
    assert len(names) == 4
    instrument = _instrument(truth.files[0], tmp / "lst1.instrument.h5")
    # the messages the trigger source makes of the files' triggers
    acada, roots = AcadaTriggerSettings(), [tmp.resolve()]
    triggers = [trigger_event(directory / f"{n}.trigger", acada, roots) for n in names]
    settings, products = asyncio.run(_run_block(tmp, names, triggers, instrument))
    out = tmp / "monitoring.h5"
    # the LAST chunk's product asked for: the whole block's series is written
    assert asyncio.run(_export(settings, products[-1]["id"], out)) == 0
    return truth, settings, products, out, tmp


def test_the_export_holds_the_blocks_whole_series_from_its_start(block):
    from ctapipe.io import HDF5MonitoringSource, read_table

    truth, _, products, path, _ = block
    assert [p["summary"]["chunk"] for p in products] == [0, 1, 2]
    assert parse_time(products[0]["valid_from"]) == START
    tab = read_table(path, f"{COEFFICIENTS_GROUP}/tel_001")
    starts = Time([parse_time(p["valid_from"]) for p in products])
    assert len(tab) == 3
    assert np.abs((tab["time"] - starts).to_value(u.ns)).max() < 1
    for row, product in zip(tab, products, strict=True):
        arrays = load_arrays(product["arrays"])
        # gain-selected, all in high gain: the product splits LSTCam's two gains (low gain not
        # measured), the export writes each pixel's measured gain for both
        assert arrays["factor_applied"].shape == (2, N_PIX) and arrays["measured"][0].all()
        assert row["factor"].shape == (2, N_PIX)  # written for both of LSTCam's gains
        np.testing.assert_array_equal(row["factor"][0], row["factor"][1])
        np.testing.assert_allclose(row["factor"][1], arrays["factor_applied"][0], rtol=1e-6)
        usable = ~arrays["unusable"]
        np.testing.assert_allclose(
            row["time_shift"][1, usable], arrays["time_shift_ns"][0, usable], atol=1e-5
        )
        np.testing.assert_array_equal(row["outlier_mask"][1], arrays["outlier_mask"][0] != 0)
        assert set(DEAD) <= set(np.flatnonzero(row["outlier_mask"][1]))
    # every event of the block finds a row, the first one from the block's start
    mon = HDF5MonitoringSource(input_files=[path])
    t0 = Time(int(truth.time_s[0]), int(truth.time_qns[0]) * 0.25e-9, format="unix_tai")
    first = mon.get_camera_monitoring_container(1, t0)
    np.testing.assert_allclose(first.coefficients.factor, tab["factor"][0])
    stats = first.pixel_statistics
    ff = load_arrays(products[0]["arrays"])["flatfield_median"][0]
    good = np.isfinite(ff)
    np.testing.assert_allclose(stats.flatfield_image["median"][1, good], ff[good])
    with tables.open_file(path) as h5:
        names = {n._v_name for n in h5.list_nodes(PIXEL_STATISTICS_GROUP)}
        assert names == {"pedestal_image", "flatfield_image"}
        table = h5.get_node(f"{PIXEL_STATISTICS_GROUP}/flatfield_image/tel_001")
        assert table.nrows == 3 and table.col("n_events")[:, 0, 0].tolist() == [300] * 3


def _ctapipe_dl1(dl0_file: str, output: Path, monitoring: Path | None) -> dict:
    """`ctapipe-process` on the block (its 4 streams, merged by ctapipe-io-zfits): the DL1
    (image, peak_time) of each event, by event_id."""
    from ctapipe.io import read_table

    command = [
        str(Path(sys.executable).with_name("ctapipe-process")),
        f"--input={dl0_file}",
        f"--output={output}",
        "--write-images",
        "--no-write-parameters",
        "--EventSource.max_events=200",
        *CTAPIPE_EXTRACTOR,
        "--overwrite",
    ]
    if monitoring is not None:
        command += [
            "--monitoring-source=HDF5MonitoringSource",
            f"--HDF5MonitoringSource.input_files={monitoring}",
        ]
    # in the output's folder: ctapipe writes its provenance log into the working directory
    done = subprocess.run(
        command, env=ENV, cwd=output.parent, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    t = read_table(output, "/dl1/event/telescope/images/tel_001")
    return {
        int(e): (np.asarray(i), np.asarray(p))
        for e, i, p in zip(t["event_id"], t["image"], t["peak_time"], strict=True)
    }


def _errors(truth, dl1: dict, good: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of the flat-field events' good pixels (event_id = index + 1): the charge's relative
    error (image - A) / A, and the peak time minus the event's camera median (ns)."""
    charge, times = [], []
    for event_id, (image, peak_time) in dl1.items():
        index = event_id - 1
        if truth.event_type[index] != 0:
            continue
        amplitude = flatfield_amplitude(truth, index)
        charge.append((image[good] - amplitude[good]) / amplitude[good])
        times.append(peak_time[good] - np.median(peak_time[good]))
    return np.array(charge), np.array(times)


def test_ctapipe_process_with_the_export_gives_the_photoelectrons(block):
    """Measured (seed 5): charge bias +0.5 %, per-pixel spread 0.7 %, rms per event and pixel
    0.9 % (10 % each without the file: the residual relative gains); per-pixel time spread
    0.03 ns (0.49 ns without). The bias is the F-factor n_pe's (the camera median n_pe of
    the product, 80.4 for 80): a finite-sample bias falling with the chunk size, +1.4 % at
    150 flat-field events a chunk, +0.5 % at 300."""
    truth, _, products, path, tmp = block
    unusable = np.logical_or.reduce([load_arrays(p["arrays"])["unusable"] for p in products])
    good = ~truth.bad & ~unusable
    assert good.sum() > N_PIX - 20
    charge, times = _errors(truth, _ctapipe_dl1(truth.files[0], tmp / "dl1.h5", path), good)
    raw, raw_times = _errors(truth, _ctapipe_dl1(truth.files[0], tmp / "dl1_raw.h5", None), good)
    assert len(charge) == len(raw) == 100  # the first 200 events, half flat-field
    pixel_spread = np.std(np.mean(charge, axis=0))
    rms = np.sqrt(np.mean(charge**2))
    time_spread = np.std(np.mean(times, axis=0))
    print(
        f"with the file: charge bias {np.median(charge):.4f}, pixel spread {pixel_spread:.4f}, "
        f"rms {rms:.4f}, time spread {time_spread:.3f} ns; without: bias {np.median(raw):.4f}, "
        f"pixel spread {np.std(np.mean(raw, axis=0)):.4f}, rms {np.sqrt(np.mean(raw**2)):.4f}, "
        f"time spread {np.std(np.mean(raw_times, axis=0)):.3f} ns"
    )
    assert abs(np.median(charge)) < 0.01  # camera-wide charge scale within 1 %
    assert pixel_spread < 0.01  # each pixel's within 1 % (rms)
    assert rms < 0.015  # each event's charge in each pixel within 1.5 % rms
    assert rms < np.sqrt(np.mean(raw**2)) / 5
    assert time_spread < 0.1  # ns
    assert time_spread < np.std(np.mean(raw_times, axis=0)) / 5


def test_the_export_is_refused_without_a_usable_instrument_file(block, tmp_path):
    from ctapipe_io_zfits.instrument import build_subarray_description

    _, settings, products, _, _ = block
    unset = settings.model_copy(update={"handlers": _settings(None)["handlers"]})
    with pytest.raises(ConfigurationError, match="instrument_file is not set"):
        asyncio.run(_export(unset, products[0]["id"], tmp_path / "a.h5"))
    build_subarray_description(2).select_subarray([2, 3]).to_hdf(tmp_path / "lst23.h5")
    other = settings.model_copy(update={"handlers": _settings(tmp_path / "lst23.h5")["handlers"]})
    with pytest.raises(ConfigurationError, match=r"has no telescope 1 \(only \[2, 3\]\)"):
        asyncio.run(_export(other, products[0]["id"], tmp_path / "b.h5"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lst23.h5"]


def test_fits_keeps_the_fits_export(block, tmp_path):
    from astropy.io import fits

    _, settings, products, _, _ = block
    assert find_exporter("camera_calibration", Path("x.fits")) is EXPORTERS["camera_calibration"]
    assert isinstance(find_exporter("camera_calibration", Path("X.H5")), SuffixExporter)
    assert asyncio.run(_export(settings, products[1]["id"], tmp_path / "c.fits")) == 0
    with fits.open(tmp_path / "c.fits") as hdus:
        assert hdus["CAMERA_CALIBRATION"].header["PRODUCT"] == products[1]["id"]


@pytest.fixture
def logging_restored():
    """The command line configures logging onto capsys' stream, closed after the test: set
    it up again once capsys is gone (this fixture is torn down after it)."""
    yield
    from calibd.logs import configure_logging

    configure_logging("json", "info")


def test_the_command_line_export(logging_restored, block, tmp_path, capsys):
    """`calibd product export ID -o F.h5`: exit 2 naming the setting when it is unset, the
    file with `--set handlers.camera_block.instrument_file=...`."""
    from calibd.cli import main

    _, _, products, _, tmp = block
    base = ["--data-dir", str(tmp), "product", "export", products[0]["id"]]
    assert main([*base, "-o", str(tmp_path / "a.h5")]) == 2
    assert "handlers.camera_block.instrument_file is not set" in capsys.readouterr().err
    instrument = tmp / "lst1.instrument.h5"
    option = ["--set", f"handlers.camera_block.instrument_file={instrument}"]
    assert main([*option, *base, "-o", str(tmp_path / "b.h5")]) == 0
    from ctapipe.io import read_table

    assert len(read_table(tmp_path / "b.h5", f"{COEFFICIENTS_GROUP}/tel_001")) == 3
