"""Camera calibration through the whole daemon path, as an operator runs it: synthetic runs
(1,855 pixels, 2 gains, 5,000 events, image mode) -> run messages -> `calibd replay` ->
products in the database -> `calibd product export` -> the FITS file compared with the truth.

Bounds (issue 3), on the pixels not injected as faulty, one sample = 1 ns:
- gain: camera median of the per-pixel relative error within 1 % (and its rms within 3 %:
  ~2 % is expected at 5,000 events from the F-factor statistics);
- pedestal per sample: every pixel within 0.5 %;
- time shift: every pixel within 0.1 ns of the injected offset (relative to the camera median);
- faulty pixels: recall >= 95 %, false flags <= 1 % of the good pixels.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from astropy.io import fits
from calibd.handlers.camera.simulate import CameraModel, simulate_run
from calibd.handlers.camera.simulate_cli import run_envelope

from tests.support.daemon_process import REPO

pytestmark = pytest.mark.integration

N_EVENTS = 5000
MODEL = CameraModel(dead=[3, 333, 1000, 1777], hot=[15, 640, 1234], noisy=[77, 901, 1600], seed=7)


def calibd(data_dir, data_root, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "calibd",
        "--data-dir",
        str(data_dir),
        "--set",
        f"data_roots={json.dumps([str(data_root)])}",
        *args,
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        cmd, capture_output=True, text=True, cwd=REPO, env=env, check=True, timeout=300
    )


def test_image_mode_runs_through_replay_and_export_recover_the_truth(tmp_path):
    runs = tmp_path / "acada"
    runs.mkdir()
    start = datetime(2026, 11, 24, 20, tzinfo=UTC)
    truth = simulate_run(runs / "ped.fits", "PEDESTAL", N_EVENTS, MODEL, tel_id=4, obs_id=31)
    simulate_run(runs / "ff.fits", "FLATFIELD", N_EVENTS, MODEL, tel_id=4, obs_id=32)
    # the flat-field message first: it waits for its pedestal
    envelopes = [
        run_envelope(runs / "ff.fits", "FLATFIELD", 4, 32, start + timedelta(minutes=3), N_EVENTS),
        run_envelope(runs / "ped.fits", "PEDESTAL", 4, 31, start, N_EVENTS),
    ]
    replay = tmp_path / "runs.jsonl"
    replay.write_text("".join(json.dumps(e) + "\n" for e in envelopes))
    data = tmp_path / "calibd"
    out = calibd(data, runs, "replay", str(replay))
    assert json.loads(out.stderr.strip().splitlines()[-1])["done"] == 2

    products = json.loads(calibd(data, runs, "products", "--json").stdout)
    (calib,) = [p for p in products if p["product_type"] == "camera_calibration"]
    assert calib["tel_id"] == 4 and calib["category"] == "B"
    path = tmp_path / "calibration.fits"
    calibd(data, runs, "product", "export", calib["id"], "-o", str(path))

    with fits.open(path) as hdul:
        hdu = hdul["CAMERA_CALIBRATION"]
        for key in ("TEL_ID", "OBS_ID", "CATEGORY", "VALSTART", "VALEND", "PRODUCT"):
            assert key in hdu.header
        assert hdu.header["ALGORITHM"].startswith("ffactor-excess-noise")
        assert hdu.header["SWVERSION"].startswith("calibd")
        assert (hdu.header["TEL_ID"], hdu.header["OBS_ID"]) == (4, 32)
        row = {name: hdu.data[name][0] for name in hdu.columns.names}
    for name in ("factor", "gain", "n_pe", "pedestal_offset", "time_shift", "outlier_mask"):
        assert row[name].shape == (2, 1855)

    injected = np.zeros(1855, bool)
    injected[MODEL.dead + MODEL.hot + MODEL.noisy] = True
    flagged = np.bitwise_or.reduce(row["outlier_mask"], axis=0) != 0
    assert flagged[injected].mean() >= 0.95
    assert flagged[~injected].mean() <= 0.01
    good = ~injected & ~flagged

    gain_err = row["gain"][:, good] / truth.gain[:, good] - 1
    assert np.all(np.abs(np.median(gain_err, axis=1)) < 0.01)
    assert np.all(np.sqrt(np.mean(gain_err**2, axis=1)) < 0.03)
    ped_err = row["pedestal_offset"][:, good] / truth.pedestal_per_sample[:, good] - 1
    assert np.max(np.abs(ped_err)) < 0.005
    offsets = truth.time_offset[good] - np.median(truth.time_offset[good])
    assert np.max(np.abs(row["time_shift"][:, good] - offsets)) < 0.1
