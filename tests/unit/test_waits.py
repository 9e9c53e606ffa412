"""Waits: a result parked until another product arrives or a deadline passes; restart-safe.
The pipeline runs on each store backend (SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from calibd.config import load_settings
from calibd.errors import RetriableError
from calibd.pipeline import Pipeline
from calibd.registry import (
    HandlerResult,
    OutgoingMessage,
    ProductDraft,
    Registry,
    Wait,
    product_wait_key,
)
from calibd.testing import eventually as wait_for
from calibd.testing import raw_message as raw
from calibd.testing import start_pipeline
from tests.conftest import example


def make_registry(deadline: timedelta) -> Registry:
    registry = Registry()

    async def pedestal(event, ctx):
        return HandlerResult(
            products=[
                ProductDraft(
                    product_type="pedestal",
                    tel_id=event.data.tel_id,
                    valid_from=event.data.run_start,
                )
            ]
        )

    async def flatfield(event, ctx):
        ped = await ctx.store.best_product("pedestal", event.data.tel_id, event.data.run_start)
        if ped is None:
            kind, key = product_wait_key("pedestal", event.data.tel_id)
            return HandlerResult(
                waits=[Wait(kind, key, datetime.now(UTC) + deadline, {"run": event.data.obs_id})]
            )
        return HandlerResult(products=[coefficients(event, ped["id"])])

    async def resume(wait, ctx):
        ped = await ctx.store.product(wait.resolved_by["product_id"])
        assert wait.state == {"run": wait.event.data.obs_id}
        return HandlerResult(products=[coefficients(wait.event, ped["id"])])

    async def expire(wait, ctx):
        return HandlerResult(
            messages=[
                OutgoingMessage(
                    "ctao.calibpipe.report",
                    {
                        "report_type": "pairing_failed",
                        "title": f"no pedestal for run {wait.state['run']}",
                    },
                )
            ]
        )

    registry.register("ctao.acada.pedestal_run", pedestal)
    registry.register("ctao.acada.flatfield_run", flatfield, resume=resume, expire=expire)
    return registry


def coefficients(event, pedestal_id: str) -> ProductDraft:
    return ProductDraft(
        product_type="coefficients",
        tel_id=event.data.tel_id,
        valid_from=event.data.run_start,
        payload={"pedestal": pedestal_id},
    )


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request, tmp_path):
    """The pipeline's settings on SQLite, and on a fresh database of the PostgreSQL cluster."""
    overrides: dict = {"data_dir": str(tmp_path)}
    if request.param == "postgres":
        cluster = request.getfixturevalue("postgres")
        overrides["database"] = {"url": cluster.url(cluster.create_database("waits"))}
    return load_settings(None, overrides)


async def start(settings, deadline=timedelta(hours=1)):
    registry = make_registry(deadline)
    return await start_pipeline(settings.data_dir, registry=registry, settings=settings)


async def test_flatfield_waits_for_its_pedestal_across_a_restart(settings):
    ff = example("ctao.acada.flatfield_run", tel_id=3)
    h = await start(settings)
    store, pipeline = h.store, h.pipeline
    outcome = await pipeline.process(raw(ff))
    assert outcome.status == "done" and outcome.product_ids == []
    (wait,) = await store.waits("pending")
    assert (wait["kind"], wait["key"]) == ("product:pedestal", "tel=3")
    await h.stop()

    h = await start(settings)  # the wait survived the restart
    store, pipeline = h.store, h.pipeline
    other_tel = example("ctao.acada.pedestal_run", tel_id=4)
    await pipeline.process(raw(other_tel))
    assert len(await store.waits("pending")) == 1
    ped = await pipeline.process(raw(example("ctao.acada.pedestal_run", tel_id=3)))
    coeffs = await wait_for(lambda: store.products(product_type="coefficients"))
    assert len(coeffs) == 1 and coeffs[0]["tel_id"] == 3
    full = await store.product(coeffs[0]["id"])
    assert full["payload"] == {"pedestal": ped.product_ids[0]}
    assert json.loads(full["provenance"]["input_message"])["id"] == ff["id"]
    assert (await store.waits())[0]["status"] == "completed"
    await h.stop()


async def test_a_ready_wait_left_by_a_crash_is_resumed_at_start(settings):
    h = await start(settings)
    store, pipeline = h.store, h.pipeline
    await pipeline.process(raw(example("ctao.acada.flatfield_run", tel_id=5)))
    await pipeline.stop()  # no resumer from here on: as if the process died
    pipeline2 = Pipeline(settings, store, make_registry(timedelta(hours=1)))
    await pipeline2.start(waits=False)
    await pipeline2.process(raw(example("ctao.acada.pedestal_run", tel_id=5)))
    assert (await store.waits())[0]["status"] == "ready"  # committed with the pedestal
    await pipeline2.stop()
    await store.close()

    h = await start(settings)
    store, pipeline = h.store, h.pipeline
    await wait_for(lambda: store.products(product_type="coefficients"))
    await h.stop()


async def test_an_expired_wait_runs_the_expire_hook(settings):
    h = await start(settings, deadline=timedelta(seconds=0.3))
    store, pipeline = h.store, h.pipeline
    await pipeline.process(raw(example("ctao.acada.flatfield_run", tel_id=6)))

    async def expired():
        return [w for w in await store.waits() if w["status"] == "expired"]

    await wait_for(expired)
    reports = [r for r in await store.pending_deliveries("kafka", 10) if r.channel == "reports"]
    assert len(reports) == 1
    assert json.loads(reports[0].envelope)["data"]["report_type"] == "pairing_failed"
    # a pedestal arriving after the deadline no longer completes the expired wait
    await pipeline.process(raw(example("ctao.acada.pedestal_run", tel_id=6)))
    await asyncio.sleep(0.3)
    assert await store.products(product_type="coefficients") == []
    await h.stop()


async def test_a_product_committed_while_the_handler_looked_wakes_the_new_wait(settings):
    """No lost wake-up: the flat-field handler finds no pedestal, the pedestal is committed,
    then the flat-field's wait is committed; it must be ready at once."""
    registry = make_registry(timedelta(hours=1))
    entry = registry.get("ctao.acada.flatfield_run")
    pedestal_committed = asyncio.Event()

    async def slow_flatfield(event, ctx):
        ped = await ctx.store.best_product("pedestal", event.data.tel_id, event.data.run_start)
        assert ped is None
        await pedestal_committed.wait()
        kind, key = product_wait_key("pedestal", event.data.tel_id)
        return HandlerResult(waits=[Wait(kind, key, datetime.now(UTC) + timedelta(hours=1))])

    registry.register(
        "ctao.acada.flatfield_run",
        slow_flatfield,
        name=entry.name,
        resume=entry.resume,
        expire=entry.expire,
        replace=True,
    )
    h = await start_pipeline(settings.data_dir, registry=registry, settings=settings, waits=False)
    store, pipeline = h.store, h.pipeline
    ff = asyncio.ensure_future(pipeline.process(raw(example("ctao.acada.flatfield_run", tel_id=8))))
    await asyncio.sleep(0.1)
    await pipeline.process(raw(example("ctao.acada.pedestal_run", tel_id=8)))
    pedestal_committed.set()
    await ff
    (wait,) = await store.waits()
    assert wait["status"] == "ready" and json.loads(wait["resolved_by"])["product_id"]
    await h.stop()


async def test_a_failing_resume_hook_backs_off_then_fails_its_wait(tmp_path):
    settings = load_settings(
        None,
        {"data_dir": str(tmp_path), "pipeline": {"retry_attempts": 2, "retry_backoff_s": 0.2}},
    )
    registry = make_registry(timedelta(hours=1))
    entry = registry.get("ctao.acada.flatfield_run")
    calls: list[float] = []

    async def broken_resume(wait, ctx):
        calls.append(asyncio.get_running_loop().time())
        raise RetriableError("archive not mounted")

    registry.register(
        "ctao.acada.flatfield_run", entry.fn, name=entry.name, resume=broken_resume, replace=True
    )
    h = await start_pipeline(settings.data_dir, registry=registry, settings=settings)
    store, pipeline = h.store, h.pipeline
    await pipeline.process(raw(example("ctao.acada.flatfield_run", tel_id=12)))
    await pipeline.process(raw(example("ctao.acada.pedestal_run", tel_id=12)))

    async def failed():
        return [w for w in await store.waits() if w["status"] == "failed"]

    (wait,) = await wait_for(failed)
    assert wait["attempts"] == 2 and len(calls) == 3  # first try + 2 retries, then failed
    gaps = [b - a for a, b in pairwise(calls)]
    assert gaps[0] >= 0.15 and gaps[1] >= 0.3  # 0.2 s then 0.4 s (+-20 % jitter)
    (letter,) = await store.dead_letters()
    assert "archive not mounted (wait hook, after 3 attempts)" in letter["detail"]
    await h.stop()
