"""The two steps of a block's computation: spills, and the parallel route giving what the
one-process route gives."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import numpy as np
import pytest
from calibd.handlers.camera.block_compute import (
    compute_block,
    compute_block_parallel,
)
from calibd.handlers.camera.block_spill import SpillWriter, read_spill
from calibd.handlers.camera.dl0_simulate import simulate_dl0_block

from calibd.executor import CpuPool


def test_a_spill_gives_back_its_records_in_batches(tmp_path):
    writer = SpillWriter(str(tmp_path / "s"), "pedestal", 3)
    rng = np.random.default_rng(1)
    batches = [
        (np.arange(n) + 10.0 * k, rng.random((n, 1, 5)), rng.random((n, 1, 5)), rng.integers(0, 2, (n, 5)))  # noqa: E501
        for k, n in enumerate((4, 3))
    ]  # fmt: skip
    for t, q, p, g in batches:
        writer.add(t, q, p, g.astype(np.int8))
    info = writer.close()
    assert (info.n_events, info.n_channels, info.n_pixels, info.gain) == (7, 1, 5, True)
    assert (info.first, info.last, info.order) == (0.0, 12.0, 3)
    records = np.concatenate(list(read_spill(info, 2)))
    np.testing.assert_array_equal(records["t"], np.concatenate([b[0] for b in batches]))
    np.testing.assert_allclose(records["charge"], np.concatenate([b[1] for b in batches]), 1e-6)
    np.testing.assert_array_equal(records["gain"], np.concatenate([b[3] for b in batches]))
    with pytest.raises(ValueError, match="layout"):
        w = SpillWriter(str(tmp_path / "x"), "flatfield", 0)
        w.add(t, q, p, None)
        w.add(t, np.zeros((3, 2, 5)), np.zeros((3, 2, 5)), None)
    empty = SpillWriter(str(tmp_path / "e"), "flatfield", 0)
    assert empty.close() is None and not (tmp_path / "e").exists()


@pytest.fixture(scope="module")
def small_block(tmp_path_factory):
    model = {"n_pixels": 200, "n_samples": 40, "dead": [3], "seed": 4}
    truth = simulate_dl0_block(
        tmp_path_factory.mktemp("dl0"), model, 1200, tel_id=2, sb_id=5, obs_id=6, chunk_size=100,
        seed=7, start=datetime(2026, 1, 1, 22, tzinfo=UTC), gain_switch_pe=110.0,
    )  # fmt: skip
    return truth


def test_the_parallel_route_gives_the_one_process_result(small_block, tmp_path):
    config = {"series": {"chunk_size": 200, "overlap": 50}}
    paths = list(small_block.files)
    one = compute_block(paths, config)
    pool = CpuPool(2)
    try:
        two = asyncio.run(compute_block_parallel(paths, config, pool.run, 2, tmp_path))
    finally:
        pool.shutdown()
    assert list((tmp_path / "scratch").iterdir()) == []  # the spills are gone
    assert two["n_events"] == one["n_events"] == {"pedestal": 600, "flatfield": 600}
    assert len(two["rows"]) == len(one["rows"]) == 4
    for a, b in zip(one["rows"], two["rows"], strict=True):
        assert a["valid_from"] == b["valid_from"] and a["flatfield_span"] == b["flatfield_span"]
        for key in ("factor_applied", "pedestal_offset", "time_shift_ns", "outlier_mask"):
            np.testing.assert_array_equal(a["coefficients"][key], b["coefficients"][key])
    assert {k: v for k, v in two.items() if k not in ("rows",)} == {
        k: v for k, v in one.items() if k not in ("rows",)
    }
