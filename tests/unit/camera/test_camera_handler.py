"""The camera handlers in the pipeline with a real SQLite store: waveform runs read in chunks,
pedestal pairing (waits across the pairing window, the deadline report), bad run files as
dead letters naming the file, the quality request, reproduction."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from calibd.handlers.camera.simulate import CameraModel, simulate_run
from calibd.handlers.camera.simulate_cli import run_envelope

from calibd.config import load_settings
from calibd.daemon import load_handlers
from calibd.pipeline import Pipeline, load_arrays
from calibd.reproduce import reproduce
from calibd.sources.base import RawMessage
from calibd.store import Store

START = datetime(2026, 11, 24, 20, tzinfo=UTC)


def raw(env: dict) -> RawMessage:
    return RawMessage("test", "t", f"k:{env['id']}", json.dumps(env).encode())


async def start(tmp_path, **camera):
    settings = load_settings(
        None,
        {
            "data_dir": str(tmp_path / "calibd"),
            "data_roots": [str(tmp_path)],
            "pipeline": {"workers": 1},
            "handlers": {"camera_flatfield": camera, "camera_pedestal": camera},
        },
    )
    store = await Store(settings.database_path).open()
    pipeline = Pipeline(settings, store, load_handlers(["calibd.handlers"]), sinks=("kafka",))
    await pipeline.start()
    return store, pipeline


async def stop(store, pipeline):
    await pipeline.stop()
    await store.close()


async def eventually(fn, timeout: float = 30.0):
    async with asyncio.timeout(timeout):
        while not (result := await fn()):
            await asyncio.sleep(0.05)
    return result


async def outgoing(store, event_type: str) -> list[dict]:
    rows = await store.pending_deliveries("kafka", 1000)
    return [json.loads(r.envelope) for r in rows if r.event_type == event_type]


SMALL = CameraModel(n_pixels=64, seed=3)


def small_run(tmp_path, kind: str, obs_id: int, at: datetime, tel_id: int = 2, model=SMALL):
    path = tmp_path / f"{kind.lower()}_{obs_id}.fits"
    simulate_run(path, kind, 300, model, tel_id=tel_id, obs_id=obs_id)
    return run_envelope(path, kind, tel_id, obs_id, at, 300)


async def test_waveform_runs_in_chunks_meet_the_image_mode_bounds(tmp_path):
    """2,000 events of 30 samples, 1,855 pixels, 2 gains, read 250 events at a time;
    the global-peak window (8 samples, 3 before the peak) holds ~99.9 % of the pulse."""
    model = CameraModel(n_samples=30, dead=[8, 900], hot=[100], noisy=[1500], seed=11)
    for kind, obs in (("PEDESTAL", 41), ("FLATFIELD", 42)):
        truth = simulate_run(
            tmp_path / f"{kind}.fits", kind, 2000, model, "waveform", tel_id=5, obs_id=obs
        )
    store, pipeline = await start(tmp_path, chunk_size=250)
    try:
        ped = run_envelope(tmp_path / "PEDESTAL.fits", "PEDESTAL", 5, 41, START, 2000)
        ff = run_envelope(tmp_path / "FLATFIELD.fits", "FLATFIELD", 5, 42, START, 2000)
        await pipeline.process(raw(ped))
        (pid,) = (await pipeline.process(raw(ff))).product_ids
        product = await store.product(pid)
        arrays = load_arrays(product["arrays"])
    finally:
        await stop(store, pipeline)
    injected = np.zeros(1855, bool)
    injected[[8, 900, 100, 1500]] = True
    flagged = arrays["pixel_outlier_mask"] != 0
    assert flagged[injected].all() and flagged[~injected].mean() <= 0.01
    good = ~injected & ~flagged
    # the window holds nearly the whole pulse: compare with the full-pulse gain within 1 %
    gain_err = arrays["gain"][:, good] / truth.gain[:, good] - 1
    assert np.all(np.abs(np.median(gain_err, axis=1)) < 0.01)
    ped_err = arrays["pedestal_offset"][:, good] / truth.pedestal_per_sample[:, good] - 1
    assert np.max(np.abs(ped_err)) < 0.005
    offsets = truth.time_offset[good] - np.median(truth.time_offset[good])
    assert np.max(np.abs(arrays["time_shift"][:, good] - offsets)) < 0.1
    assert product["payload"]["window_width"] == 8
    assert product["payload"]["extractor"]["name"] == "global_peak_window"
    assert product["payload"]["mode"] == "waveform"


async def test_pairing_reproduction_and_quality_request(tmp_path):
    store, pipeline = await start(tmp_path)
    try:
        ff = small_run(tmp_path, "FLATFIELD", 2, START + timedelta(minutes=5))
        assert (await pipeline.process(raw(ff))).product_ids == []  # no pedestal yet: waits
        (wait,) = await store.waits("pending")
        assert (wait["kind"], wait["key"]) == ("product:camera_pedestal", "tel=2")
        # a pedestal of another telescope does not complete it
        await pipeline.process(raw(small_run(tmp_path, "PEDESTAL", 3, START, tel_id=9)))
        assert len(await store.waits("pending")) == 1
        ped = await pipeline.process(raw(small_run(tmp_path, "PEDESTAL", 1, START)))
        (calib,) = await eventually(lambda: store.products(product_type="camera_calibration"))
        product = await store.product(calib["id"])
        assert product["payload"]["pedestal_product_id"] == ped.product_ids[0]
        assert product["payload"]["obs_id"] == 2
        (request,) = await outgoing(store, "ctao.calibpipe.quality_request")
        assert request["data"]["product_id"] == calib["id"]
        metrics = request["data"]["metrics"]
        assert {"faulty_fraction", "median_gain", "median_n_pe", "is_valid"} <= set(metrics)
        assert metrics["median_gain"][0] == pytest.approx(100.0, rel=0.1)
        for pid in (ped.product_ids[0], calib["id"]):
            assert (await reproduce(pipeline, pid))["status"] == "identical"
    finally:
        await stop(store, pipeline)


async def test_a_pedestal_outside_the_window_leaves_the_run_waiting_until_the_deadline(tmp_path):
    store, pipeline = await start(tmp_path, pairing_window_h=1.0, pairing_timeout_s=1.5)
    try:
        ff = small_run(tmp_path, "FLATFIELD", 2, START)
        await pipeline.process(raw(ff))
        late = small_run(tmp_path, "PEDESTAL", 1, START + timedelta(hours=5))
        await pipeline.process(raw(late))
        (report,) = await eventually(lambda: outgoing(store, "ctao.calibpipe.report"))
        assert report["data"]["report_type"] == "camera_pairing_failed"
        assert "no valid pedestal of telescope 2 within 1 h" in report["data"]["title"]
        assert await store.products(product_type="camera_calibration") == []
        # the late pedestal resumed the wait, which parked again until the deadline
        statuses = [w["status"] for w in await store.waits()]
        assert statuses[0] == "expired" and "pending" not in statuses
    finally:
        await stop(store, pipeline)


async def test_bad_run_files_are_dead_letters_naming_the_file(tmp_path):
    store, pipeline = await start(tmp_path)
    try:
        good = small_run(tmp_path, "PEDESTAL", 1, START)
        path = tmp_path / "pedestal_1.fits"
        truncated = tmp_path / "truncated.fits"
        truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        wrong_type = json.loads(json.dumps(good))
        wrong_type["type"] = "ctao.acada.flatfield_run"
        wrong_sum = json.loads(json.dumps(good))
        wrong_sum["data"]["files"][0]["sha256"] = hashlib.sha256(b"other").hexdigest()
        cut = json.loads(json.dumps(good))
        cut["data"]["files"] = [{"uri": str(truncated)}]
        outside = json.loads(json.dumps(good))
        outside["data"]["files"] = [{"uri": "/etc/hostname"}]
        wrong_tel = json.loads(json.dumps(good))
        wrong_tel["data"]["tel_id"] = 7
        for i, env in enumerate((wrong_type, wrong_sum, cut, outside, wrong_tel)):
            env["id"] = f"bad-{i}"
            assert (await pipeline.process(raw(env))).status == "dead", env["id"]
        details = {d["event_id"]: d["detail"] for d in await store.dead_letters()}
        assert "pedestal_1.fits" in details["bad-0"] and "PEDESTAL" in details["bad-0"]
        assert "sha256" in details["bad-1"] or "checksum" in details["bad-1"]
        assert details["bad-2"].startswith("truncated.fits")
        assert "outside the data roots" in details["bad-3"]
        assert "TEL_ID 2 but the message says tel_id 7" in details["bad-4"]
    finally:
        await stop(store, pipeline)


async def test_window_width_mismatch_between_pedestal_and_flatfield_is_refused(tmp_path):
    store, pipeline = await start(tmp_path)
    try:
        await pipeline.process(raw(small_run(tmp_path, "PEDESTAL", 1, START)))
        wide = CameraModel(n_pixels=64, seed=3, window_width=12)
        ff = small_run(tmp_path, "FLATFIELD", 2, START, model=wide)
        assert (await pipeline.process(raw(ff))).status == "dead"
        (letter,) = await store.dead_letters()
        assert "window of 12 samples differs from the pedestal's 8" in letter["detail"]
    finally:
        await stop(store, pipeline)
