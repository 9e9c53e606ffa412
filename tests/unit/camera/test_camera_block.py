"""The camera_block handler through the pipeline on a real SQLite store: the trigger files of a
4-stream DL0 observation block (as the trigger source turns them into messages) -> one
product per chunk, computed once; a late file computes the block again and is reported;
`calibd reproduce` makes each chunk again, bit for bit, from the files it recorded."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from calibd.handlers.camera.dl0_simulate import simulate_dl0_block

from calibd.config import AcadaTriggerSettings
from calibd.reproduce import reproduce
from calibd.store import parse_time
from calibd.testing import eventually, outgoing, raw_message, running_pipeline
from calibd.transports.acada_triggers.source import trigger_event

MODEL = {"n_pixels": 200, "n_samples": 40, "dead": [3], "seed": 4}
START = datetime(2026, 1, 1, 22, tzinfo=UTC)
BLOCK = {"tel_id": 1, "sb_id": 4_000_000_101, "obs_id": 4_000_000_201, "start": START}
SETTINGS = {
    "handlers": {
        "camera_block": {
            "settle_s": 0.5,
            "quiet_s": 1.5,
            "compute_allowance_s": 1.0,
            "block": {"series": {"chunk_size": 150, "overlap": 50}},
        }
    }
}


def messages(directory: Path, names: list[str], root: Path) -> list:
    """The messages the trigger source makes of these files' triggers."""
    settings = AcadaTriggerSettings()
    out = []
    for name in names:
        payload = trigger_event(directory / f"{name}.trigger", settings, [root.resolve()])
        out.append(raw_message(payload, key=name, transport="acada-trigger"))
    return out


async def block_products(store, superseded: bool = False) -> list[dict]:
    return await store.products(
        product_type="camera_calibration", include_superseded=superseded, limit=1000
    )


@pytest.mark.parametrize("level", ["DL0", "R1"])
async def test_a_block_of_four_streams_makes_one_product_per_chunk_once(tmp_path, level):
    directory = tmp_path / "dl0"
    truth = simulate_dl0_block(directory, MODEL, 800, chunk_size=100, seed=3, level=level, **BLOCK)
    names = [Path(f).name for f in truth.files]
    assert len(names) == 8  # 4 streams x 2 chunks
    async with running_pipeline(tmp_path, settings=SETTINGS) as h:
        outcomes = [await h.pipeline.process(m) for m in messages(directory, names, tmp_path)]
        assert [o.status for o in outcomes] == ["done"] * 8  # each parks its wait
        await eventually(lambda: _when(block_products(h.store), 4), timeout=30)
        # the older files' waits step aside, once more after a second quiet period (in case
        # the newest file's message had failed), and then find the block computed
        waits = await eventually(lambda: _all_expired(h.store), timeout=30)
        products = await block_products(h.store)
        stored = [await h.store.product(p["id"]) for p in products]
        valid_at = {}  # "valid at t" resolves the chunk covering t: the middle of each chunk
        for p in products:
            start = parse_time(p["valid_from"])
            end = parse_time(p["valid_to"]) if p["valid_to"] else start + timedelta(hours=1)
            best = await h.store.best_product("camera_calibration", 1, start + (end - start) / 2)
            valid_at[p["id"]] = best["id"]
        reproduced = [await reproduce(h.pipeline, p["id"]) for p in products]
    assert [r["status"] for r in reproduced] == ["identical"] * 4, reproduced
    # 400 flat-field events in chunks of 150 overlapping by 50: [0,150) [100,250) [200,350)
    # and the last 150: 4 rows
    assert len(products) == 4
    chunks = sorted(products, key=lambda p: p["summary"]["chunk"])
    assert [p["summary"]["chunk"] for p in chunks] == [0, 1, 2, 3]
    assert parse_time(chunks[0]["valid_from"]) == START  # the block's start
    for a, b in itertools.pairwise(chunks):
        assert a["valid_to"] == b["valid_from"]
    assert chunks[-1]["valid_to"] is None
    payload = stored[0]["payload"]
    assert payload["level"] == level
    assert payload["streams"] == ["SDH000", "SDH001", "SDH002", "SDH003"]
    assert sorted(payload["files"]) == sorted(names) and payload["late_files"] == []
    assert all(p["summary"]["is_valid"] and p["summary"]["n_events"] == 150 for p in chunks)
    assert all(valid_at[p["id"]] == p["id"] for p in chunks)
    assert len([w for w in waits if "fallback" not in w["state"]]) == 8  # one per file


async def test_a_late_file_computes_the_block_again_and_is_reported(tmp_path):
    directory = tmp_path / "dl0"
    truth = simulate_dl0_block(directory, MODEL, 800, chunk_size=100, seed=3, **BLOCK)
    names = [Path(f).name for f in truth.files]
    other = simulate_dl0_block(tmp_path / "more", MODEL, 800, chunk_size=100, seed=9, **BLOCK)
    async with running_pipeline(tmp_path, settings=SETTINGS) as h:
        for m in messages(directory, names, tmp_path):
            await h.pipeline.process(m)
        first = await eventually(lambda: _when(block_products(h.store), 4), timeout=30)
        late = names[0].replace("CHUNK000", "CHUNK007")
        shutil.copy(other.files[0], directory / late)
        os.symlink(late, directory / f"{late}.trigger")
        (message,) = messages(directory, [late], tmp_path)
        assert (await h.pipeline.process(message)).status == "done"
        await eventually(lambda: _when(block_products(h.store, superseded=True), 9), timeout=30)
        valid = await h.store.products(product_type="camera_calibration", limit=100)
        everything = await h.store.products(
            product_type="camera_calibration", include_superseded=True, limit=100
        )
        reports = await outgoing(h.store, event_type="ctao.calibpipe.report")
        stored = [await h.store.product(p["id"]) for p in valid]
        # each chunk of both computations made again from the files it recorded
        again = [(await reproduce(h.pipeline, p["id"]))["status"] for p in everything]
        _cut_short(Path(truth.files[1]))
        changed = await reproduce(h.pipeline, valid[0]["id"])
    assert again == ["identical"] * 9
    assert changed["status"] == "not_reproducible" and "sha256" in changed["reason"]
    assert len(first) == 4
    # the late file adds 100 flat-field events: 500 in chunks of 150 overlapping by 50
    assert len(valid) == 5 and len(everything) == 9
    assert {p["id"] for p in valid}.isdisjoint(p["id"] for p in first)  # superseded
    assert all(p["payload"]["late_files"] == [late] for p in stored)
    assert all(len(p["payload"]["files"]) == 9 for p in stored)
    (report,) = [r for r in reports if r["data"]["report_type"] == "camera_block_late_files"]
    assert report["data"]["details"]["late_files"] == [late]


def _cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


async def _all_expired(store) -> list[dict] | None:
    waits = await store.waits(limit=100)
    return waits if waits and all(w["status"] == "expired" for w in waits) else None


async def _when(coro, n: int):
    rows = await coro
    return rows if len(rows) >= n else None


def test_calibd_simulate_dl0_cal_writes_a_block_and_prints_its_messages(tmp_path):
    out = tmp_path / "block"
    done = subprocess.run(
        [sys.executable, "-m", "calibd", "simulate", "dl0-cal", "--out", str(out),
         "--events", "80", "--pixels", "50", "--chunk", "10", "--obs", "7", "--sb", "3",
         "--dead", "4", "--start", "2026-11-24T21:00:00"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    messages = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(messages) == 8  # 80 events over 4 streams in chunks of 10
    assert {m["type"] for m in messages} == {"ctao.acada.calibration_stream_file"}
    data = [m["data"] for m in messages]
    assert {d["stream"] for d in data} == {"SDH000", "SDH001", "SDH002", "SDH003"}
    assert {(d["tel_id"], d["sb_id"], d["obs_id"]) for d in data} == {(1, 3, 7)}
    for d in data:
        assert Path(d["file"]["uri"] + ".trigger").is_symlink()
    truth = np.load(out / "truth.npz")
    assert truth["relative_gain"].shape == (2, 50) and list(truth["dead"]) == [4]
