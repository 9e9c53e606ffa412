"""A configuration change made through one instance reaches the others sharing the database
within `pipeline.config_follow_s`, and a change made next through another builds on it."""

from __future__ import annotations

import asyncio

import pytest

from calibd.store import VersionConflict
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


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_change_built_on_a_stale_version_is_built_again_on_the_latest(
    backend, request, tmp_path
):
    settings: dict = {"pipeline": {"config_follow_s": 3600}}  # no polling: stale on purpose
    if backend == "postgres":
        postgres = request.getfixturevalue("postgres")
        settings["database"] = {"url": postgres.url(postgres.create_database("stale"))}
    a = await start_pipeline(tmp_path, settings=settings)
    b = await start_pipeline(tmp_path, settings=settings)
    try:
        first = example("ctao.calibpipe.config_change", changes=[{"key": KEY, "value": 0.05}])
        assert (await b.process(first)).status == "done"
        runtime = a.pipeline.runtime
        stale = runtime.current.version
        with pytest.raises(VersionConflict):  # what a race between two instances meets
            await runtime._record(a.store, [(KEY, 0.07)], "x", "y", "e-stale")
        assert runtime.current.version == stale
        other = "handlers.camera_flatfield.ffactor.n_pe_min"
        number, _ = await runtime.apply(
            a.store, [(other, 25.0)], "op", "why", "e2", "ctao.soss/operator"
        )
        assert number == stale + 2 and (ffactor(a).n_pe_min, faulty(a)) == (25.0, 0.05)
    finally:
        await a.stop()
        await b.stop()
