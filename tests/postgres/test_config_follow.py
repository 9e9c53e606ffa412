"""A configuration change made through one instance reaches the others sharing the database
within `pipeline.config_follow_s`, and a change made next through another builds on it."""

from __future__ import annotations

import asyncio

import pytest

from calibd.testing import start_pipeline
from tests.conftest import example

KEY = "handlers.camera_flatfield.ffactor.max_faulty_fraction"


def ffactor(h):
    return h.pipeline.runtime.current.handler_config("camera_flatfield", "B").ffactor


def faulty(h) -> float:
    return ffactor(h).max_faulty_fraction


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_change_through_one_instance_reaches_the_other(backend, request, tmp_path):
    settings: dict = {"pipeline": {"config_follow_s": 0.2}}
    if backend == "postgres":
        postgres = request.getfixturevalue("postgres")
        settings["database"] = {"url": postgres.url(postgres.create_database("follow"))}
    a = await start_pipeline(tmp_path, settings=settings)  # same data_dir: one SQLite file
    b = await start_pipeline(tmp_path, settings=settings)
    try:
        before = faulty(b)
        change = example("ctao.calibpipe.config_change", changes=[{"key": KEY, "value": 0.05}])
        assert (await a.process(change)).status == "done"
        assert faulty(a) == 0.05 and faulty(b) == before
        for _ in range(50):  # within a few polls
            if faulty(b) == 0.05:
                break
            await asyncio.sleep(0.1)
        assert faulty(b) == 0.05
        assert b.pipeline.runtime.current.version == a.pipeline.runtime.current.version
        # a change made next through the other instance keeps the first one, and comes back
        other = "handlers.camera_flatfield.ffactor.n_pe_min"
        second = example("ctao.calibpipe.config_change", changes=[{"key": other, "value": 25.0}])
        assert (await b.process(second)).status == "done"
        for h in (b, a):
            for _ in range(50):
                if ffactor(h).n_pe_min == 25.0:
                    break
                await asyncio.sleep(0.1)
            assert (ffactor(h).n_pe_min, ffactor(h).max_faulty_fraction) == (25.0, 0.05)
        versions = await b.store.config_versions()
        assert versions[0]["version"] == a.pipeline.runtime.current.version
    finally:
        await a.stop()
        await b.stop()
