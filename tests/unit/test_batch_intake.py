"""A fetched batch (`Pipeline.submit_many`) ends each message as the one-message path would,
on a real SQLite database; and the handler timeout (one watchdog for all calls)."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from calibd.errors import RetriableError
from calibd.registry import HandlerResult, ProductDraft, Registry, Wait
from calibd.testing import envelope, running_pipeline
from calibd.transports.base import RawMessage


def message(env: dict | bytes, n: int) -> RawMessage:
    payload = env if isinstance(env, bytes) else json.dumps(env).encode()
    return RawMessage("kafka", f"t[0]@{n}", f"kafka:t:0:{n}", payload, [])


def weather(behave: str | None = None, **extra) -> dict:
    env = {**envelope("ctao.acada.weather"), **extra}
    return env if behave is None else {**env, "behave": behave}


@pytest.fixture
async def pipe(tmp_path):
    """Weather makes a product, unless its `behave` extension says to fail (retriably, or
    with a bug) or to be slow; `rawname` (hex) becomes the key of a wait, which SQLite cannot
    store when the bytes are not UTF-8."""
    registry = Registry()
    calls: list[str] = []

    async def handle(event, ctx):
        calls.append(event.id)
        extra = event.model_extra or {}
        behave = extra.get("behave")
        if behave == "retriable":
            raise RetriableError("the archive is down")
        if behave == "bug":
            raise ZeroDivisionError("a bug")
        if behave == "slow":
            await asyncio.sleep(30)
        waits = []
        if (rawname := extra.get("rawname")) is not None:
            name = os.fsdecode(bytes.fromhex(rawname))
            waits.append(Wait("file", name, datetime.now(UTC) + timedelta(hours=1)))
        draft = ProductDraft(product_type="weather_echo", valid_from=event.data.time)
        return HandlerResult(products=[draft], waits=waits)

    registry.register("ctao.acada.weather", handle)
    settings = {"pipeline": {"handler_timeout_s": 0.5, "retry_attempts": 3}}
    async with running_pipeline(tmp_path, registry=registry, settings=settings) as h:
        fatal: list[BaseException] = []
        h.pipeline.on_fatal = fatal.append
        yield h.pipeline, h.store, calls, fatal


async def test_every_kind_of_message_in_one_batch_ends_as_alone(pipe):
    pipeline, store, calls, fatal = pipe
    seen_before = weather()
    assert (await pipeline.process(message(seen_before, 100))).status == "done"
    twice = weather()
    conflicting = {**seen_before, "data": {**seen_before["data"], "site": "CTAO-South"}}
    cases = [
        weather(),  # 0 done
        b"{not json",  # 1 malformed
        b"x" * (pipeline.settings.pipeline.max_message_bytes + 1),  # 2 too large
        {**weather(), "type": "ctao.nobody.handles"},  # 3 no handler (schema: unknown type)
        twice,  # 4 done
        twice,  # 5 the same key in the same batch: a duplicate, after 4's commit
        seen_before,  # 6 in the ledger: a duplicate
        conflicting,  # 7 same key, other content
        weather("retriable"),  # 8 parked
        weather("bug"),  # 9 handler_failed
        weather(rawname="72756effff"),  # 10 unstorable (b"run\xff\xff")
        weather(),  # 11 done
    ]
    raws = [message(c, i) for i, c in enumerate(cases)]
    results = await (await pipeline.submit_many(raws))
    statuses = [r.status for r in results]
    assert statuses == [
        "done",
        "dead",
        "dead",
        "dead",
        "done",
        "duplicate",
        "duplicate",
        "dead",
        "retrying",
        "dead",
        "dead",
        "done",
    ]
    reasons = {i: r.reason for i, r in enumerate(results) if r.status == "dead"}
    assert reasons == {
        1: "malformed",
        2: "too_large",
        3: "unknown_type",
        7: "conflicting_duplicate",
        9: "handler_failed",
        10: "unstorable",
    }
    assert [r.event_id for r in results if r.status == "done"] == [
        cases[0]["id"],
        twice["id"],
        cases[11]["id"],
    ]
    assert calls.count(twice["id"]) == 1 and calls.count(seen_before["id"]) == 1
    assert len(await store.products()) == 4  # seen_before, 0, 4, 11
    letters = {d["origin"]: d for d in await store.dead_letters()}
    assert set(letters) == {f"t[0]@{i}" for i in reasons}
    assert "UnicodeEncodeError" in letters["t[0]@10"]["detail"]
    assert "ZeroDivisionError" in letters["t[0]@9"]["detail"]
    assert fatal == []
    assert pipeline.in_flight == 0 and pipeline.capacity == pipeline.settings.pipeline.max_in_flight
    again = await (await pipeline.submit_many(raws))  # a redelivery of the whole batch
    assert [r.status for r in again][:1] == ["duplicate"] and calls.count(cases[0]["id"]) == 1


async def test_a_message_submitted_alone_waits_for_its_key_in_a_batch(pipe):
    pipeline, _store, calls, _ = pipe
    env = weather()
    batch = await pipeline.submit_many([message(env, 1), message(weather(), 2)])
    alone = await pipeline.submit(message(env, 3))  # same key while the batch runs
    assert [r.status for r in await batch] == ["done", "done"]
    assert (await alone).status == "duplicate" and calls.count(env["id"]) == 1


async def test_a_storage_fault_in_a_batch_fails_it_unacknowledged(pipe):
    pipeline, store, _calls, fatal = pipe
    await store.w.execute("PRAGMA query_only = ON")
    try:
        results = await (await pipeline.submit_many([message(weather(), i) for i in range(3)]))
    finally:
        await store.w.execute("PRAGMA query_only = OFF")
    assert all(isinstance(r, BaseException) for r in results)
    assert fatal and await store.products() == []


async def test_a_handler_past_its_timeout_is_parked_for_a_retry(pipe):
    pipeline, store, _calls, fatal = pipe
    slow_alone, slow_in_batch, quick = weather("slow"), weather("slow"), weather()
    started = asyncio.get_running_loop().time()
    alone = await pipeline.submit(message(slow_alone, 1))
    batch = await pipeline.submit_many([message(slow_in_batch, 2), message(quick, 3)])
    outcome, results = await asyncio.wait_for(asyncio.gather(alone, batch), timeout=10)
    elapsed = asyncio.get_running_loop().time() - started
    assert outcome.status == "retrying" and outcome.reason == "retriable"
    assert [r.status for r in results] == ["retrying", "done"]
    assert 0.5 <= elapsed < 3.0  # the limit is 0.5 s, checked every 0.05 s
    retries = [w for w in await store.waits() if w["kind"] == "retry"]
    assert len(retries) == 2
    assert all("handler_timeout_s=0.5" in json.loads(w["state"])["last_error"] for w in retries)
    assert fatal == [] and pipeline.running == {}
