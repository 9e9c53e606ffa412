"""The pipeline in-process, on a real SQLite database and a real process pool."""

from __future__ import annotations

import asyncio
import json
import os

import numpy as np
import pytest

from calibd.config import load_settings
from calibd.errors import BadInput, ConfigurationError, RetriableError
from calibd.pipeline import Pipeline, load_arrays
from calibd.registry import HandlerResult, ProductDraft, Registry
from calibd.store import Store
from calibd.testing import running_pipeline
from calibd.transports.base import RawMessage
from tests.conftest import example


def cube(n: int) -> int:
    """Runs in a worker process."""
    return n**3 + os.getpid() * 0


def raw(env: dict, n: int = 0) -> RawMessage:
    return RawMessage(
        transport="test",
        origin=f"test#{n}",
        origin_key=f"test:{env['id']}:{n}",
        payload=json.dumps(env).encode(),
    )


@pytest.fixture
async def harness(tmp_path):
    registry = Registry()
    calls: list[str] = []
    flaky = {"left": 1, "always": False}

    async def weather(event, ctx):
        calls.append(event.id)
        await asyncio.sleep(0.05)
        value = await ctx.run_cpu(cube, 3)
        return HandlerResult(
            products=[
                ProductDraft(
                    product_type="molecular",
                    valid_from=event.data.time,
                    payload={"cube": value, "nan": float("nan")},
                    arrays={"tau": np.linspace(0, 1, 7)},
                    summary={"cube": value},
                    missing=["payload.nan"],  # declared: stored as null
                )
            ]
        )

    async def rates(event, ctx):
        if flaky["left"] or flaky["always"]:
            flaky["left"] -= 1
            raise RetriableError("database busy")
        return HandlerResult(
            products=[ProductDraft(product_type="ctc", valid_from=event.data.interval_start)]
        )

    async def muon(event, ctx):
        raise BadInput("muon.fits: HDU MUONS missing column impact")

    async def fram_down(event, ctx):
        return {"not": "a result"}

    registry.register("ctao.acada.weather", weather)
    registry.register("ctao.acada.trigger_rates", rates)
    registry.register("ctao.acada.muon_data", muon)
    registry.register("ctao.acada.fram_down", fram_down)
    fast = {"pipeline": {"retry_backoff_s": 0.01}}
    async with running_pipeline(tmp_path, registry=registry, settings=fast) as h:
        yield h.pipeline, h.store, calls, flaky


async def test_product_provenance_and_outbox_in_one_go(harness):
    pipeline, store, *_ = harness
    env = example("ctao.acada.weather")
    outcome = await pipeline.process(raw(env))
    assert outcome.status == "done" and len(outcome.product_ids) == 1
    prod = await store.product(outcome.product_ids[0][:13])  # unique prefix works
    assert prod["payload"] == {"cube": 27, "nan": None}
    np.testing.assert_array_equal(load_arrays(prod["arrays"])["tau"], np.linspace(0, 1, 7))
    assert json.loads(prod["provenance"]["input_message"])["id"] == env["id"]
    assert prod["provenance"]["config_hash"] == prod["config_hash"]
    pending = await store.pending_deliveries("kafka", 10)
    assert len(pending) == 1
    note = json.loads(pending[0].envelope)
    assert note["data"]["product_id"] == prod["id"] and note["data"]["summary"] == {"cube": 27}


async def test_concurrent_and_later_duplicates_make_one_product(harness):
    pipeline, store, calls, _ = harness
    env = example("ctao.acada.weather")
    outcomes = await asyncio.gather(*(pipeline.process(raw(env, n)) for n in range(5)))
    later = await pipeline.process(raw(env, 99))
    statuses = sorted(o.status for o in [*outcomes, later])
    assert statuses == ["done"] + ["duplicate"] * 5
    assert calls == [env["id"]]
    assert len(await store.products()) == 1


async def test_failures_become_dead_letters_with_reasons(harness):
    pipeline, store, *_ = harness
    bad_input = await pipeline.process(raw(example("ctao.acada.muon_data")))
    wrong_return = await pipeline.process(raw(example("ctao.acada.fram_down")))
    no_handler = await pipeline.process(raw(example("ctao.simpipe.production")))
    retried = await pipeline.process(raw(example("ctao.acada.trigger_rates")))
    assert (bad_input.status, bad_input.reason) == ("dead", "bad_input")
    assert (wrong_return.status, wrong_return.reason) == ("dead", "handler_failed")
    assert (no_handler.status, no_handler.reason) == ("dead", "unknown_type")
    assert retried.status == "retrying"  # parked in the DB, acknowledged, tried again later
    (parked,) = await store.waits()
    assert parked["kind"] == "retry" and json.loads(parked["state"])["attempt"] == 2
    async with asyncio.timeout(10):
        while not await store.products(product_type="ctc"):
            await asyncio.sleep(0.05)
    assert (await store.waits())[0]["status"] == "completed"
    letters = {d["reason"]: d for d in await store.dead_letters()}
    assert "muon.fits: HDU MUONS missing column impact" in letters["bad_input"]["detail"]
    assert "TypeError" in letters["handler_failed"]["detail"]
    dlq = [r for r in await store.pending_deliveries("kafka", 50) if r.channel == "dlq"]
    assert len(dlq) == 3


async def test_a_redelivered_dead_letter_is_recorded_once(harness):
    pipeline, store, *_ = harness
    env = example("ctao.acada.muon_data")
    first = await pipeline.process(raw(env, 1))
    second = await pipeline.process(raw(env, 1))
    assert (first.status, second.status) == ("dead", "duplicate")
    assert len(await store.dead_letters()) == 1


async def test_handler_settings_are_validated_at_start(tmp_path):
    registry = Registry()

    async def weather(event, ctx):
        return HandlerResult()

    registry.register("ctao.acada.weather", weather, name="molecular")
    settings = load_settings(None, {"data_dir": str(tmp_path), "handlers": {"nope": {}}})
    store = await Store(settings.database_path).open()
    try:
        with pytest.raises(ConfigurationError, match="handlers.nope: no such handler"):
            Pipeline(settings, store, registry)
    finally:
        await store.close()


def test_registration_rejects_misconfiguration():
    from pydantic import BaseModel

    registry = Registry()

    async def h(event, ctx):
        return HandlerResult()

    class NeedsValue(BaseModel):
        threshold: float

    with pytest.raises(ConfigurationError, match="not an inbound event type"):
        registry.register("ctao.acada.nope", h)
    with pytest.raises(ConfigurationError, match="async"):
        registry.register("ctao.acada.weather", lambda e, c: None)
    with pytest.raises(ConfigurationError, match="needs defaults"):
        registry.register("ctao.acada.weather", h, config=NeedsValue)
    registry.register("ctao.acada.weather", h)
    with pytest.raises(ConfigurationError, match="already has handler"):
        registry.register("ctao.acada.weather", h)


async def test_retries_run_out_into_a_dead_letter(harness):
    pipeline, store, _, flaky = harness
    flaky["always"] = True
    env = example("ctao.acada.trigger_rates")
    assert (await pipeline.process(raw(env))).status == "retrying"
    # a redelivery while the retry is parked is a duplicate, not a second attempt
    assert (await pipeline.process(raw(env, 7))).status == "duplicate"
    async with asyncio.timeout(20):
        while not await store.dead_letters():
            await asyncio.sleep(0.05)
    (letter,) = await store.dead_letters()
    attempts = pipeline.settings.pipeline.retry_attempts + 1
    assert letter["reason"] == "retriable"
    assert letter["detail"] == f"database busy (after {attempts} attempts)"
    assert [w["status"] for w in await store.waits()] == ["failed"] + ["completed"] * (attempts - 2)
    assert await store.processed([(env["source"], env["id"])])
