"""A DL0 tree as ACADA leaves it (4-stream calibration files, a muon candidate file and the
sub-array file, each with its trigger) -> `calibd run` (trigger source, MQTT sink) -> camera
calibration products notified on MQTT -> `calibd product export ID -o F.h5` -> read back by
ctapipe 0.28's HDF5MonitoringSource. Real daemon process, real broker, real files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from astropy.time import Time
from calibd.handlers.camera.dl0_simulate import simulate_dl0_block

from tests.integration.test_mqtt_and_triggers import Listener, mqtt_settings
from tests.support.daemon_process import REPO, DaemonProcess

pytestmark = pytest.mark.integration

MOCK = Path(__file__).resolve().parents[1] / "data" / "acada_mock"
BLOCK = "20260101T220000_SBID4000000001_OBSID4000000001"


def _instrument(dl0_file: str, path: Path) -> Path:
    from ctapipe.io import EventSource

    os.environ.setdefault("CTAPIPE_IO_ZFITS_NO_SERVICE_DATA", "1")
    with EventSource(dl0_file) as source:
        source.subarray.to_hdf(path)
    return path


async def test_a_dl0_tree_through_the_trigger_source_to_ctapipe(mqtt, tmp_path, uid):
    tree = tmp_path / "dl0" / "LSTN-01" / "events" / "2026" / "01" / "01"
    truth = simulate_dl0_block(
        tree,
        {"n_pixels": 1855, "n_samples": 40, "seed": 5, "dead": [17]},
        600,
        tel_id=1,
        sb_id=4_000_000_001,
        obs_id=4_000_000_001,
        start=datetime(2026, 1, 1, 22, tzinfo=UTC),
        chunk_size=75,
        seed=6,
    )
    for name in (f"TEL001_SDH000_{BLOCK}_TEL_MUON_CHUNK000.fits.fz", f"SUB001_SWAT001_{BLOCK}"
                 "_SUBARRAY_CHUNK000.fits.fz"):  # fmt: skip
        shutil.copy(MOCK / name, tree / name)
        os.symlink(name, tree / f"{name}.trigger")
    instrument = _instrument(truth.files[0], tmp_path / "lst1.h5")
    block = {
        "settle_s": 0.5,
        "quiet_s": 5.0,
        "compute_allowance_s": 1.0,
        "instrument_file": str(instrument),
        "block": {"series": {"chunk_size": 150, "overlap": 50}},
    }
    settings = mqtt_settings(
        mqtt,
        uid,
        **{
            "mqtt.consume": False,
            "pipeline.handler_modules": ["calibd.handlers"],
            "acada_triggers.enabled": True,
            "acada_triggers.directories": [str(tmp_path / "dl0")],
            "acada_triggers.poll_interval_s": 0.2,
            "data_roots": [str(tmp_path)],
            "handlers.camera_block": block,
        },
    )
    data_dir = tmp_path / "calibd"
    async with Listener(mqtt, f"test/{uid}/products/#") as listener:
        daemon = DaemonProcess(data_dir, settings).start()
        try:
            # 300 flat-field events in chunks of 150 overlapping by 50: 3 chunks
            rows = daemon.wait_query(
                "SELECT id, summary FROM products WHERE product_type = 'camera_calibration'",
                lambda r: len(r) >= 3,
                timeout=90,
            )
            notes = await listener.wait(3, timeout=30)
        finally:
            assert daemon.stop() == 0, daemon.tail()
    assert len(rows) == 3
    assert sorted(json.loads(r["summary"])["chunk"] for r in rows) == [0, 1, 2]
    assert {n["data"]["product_id"] for _, n in notes} == {r["id"] for r in rows}
    ledger = daemon.query("SELECT status, COUNT(*) AS n FROM processed GROUP BY status")
    assert {r["status"]: r["n"] for r in ledger} == {"done": 8, "ignored": 2}
    assert daemon.query("SELECT * FROM dead_letters") == []
    ignored = [line for line in daemon.log_lines() if line.get("msg") == "message ignored"]
    assert sorted(line["why"].split(":")[0] for line in ignored) == ["MuonCandidate", "Trigger"]

    out = tmp_path / "block.h5"
    set_args = [a for key, value in settings.items()
                for a in ("--set", f"{key}={json.dumps(value)}")]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "calibd", "--data-dir", str(data_dir), *set_args,
         "product", "export", rows[0]["id"], "-o", str(out)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]

    from ctapipe.io import HDF5MonitoringSource, read_table

    table = read_table(out, "/dl1/monitoring/telescope/calibration/camera/coefficients/tel_001")
    assert len(table) == 3 and table["outlier_mask"].dtype == bool
    assert table["factor"].shape == (3, 2, 1855)  # both of LSTCam's gains
    assert np.all(table["outlier_mask"][:, :, 17])  # the dead pixel
    start = Time("2026-01-01T22:00:00", scale="utc").tai
    assert abs((table["time"][0] - start).to_value("s")) < 1e-6  # the block's start, TAI
    with HDF5MonitoringSource(input_files=[out]) as source:
        assert list(source.subarray.tel) == [1]
