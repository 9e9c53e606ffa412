"""Hostile inputs end as dead letters; only storage faults stop the pipeline (real SQLite)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from calibd import codec
from calibd.errors import MalformedMessage, RetriableError, SchemaViolation, StoreError
from calibd.faults import Unstorable, is_storage_fault
from calibd.registry import HandlerResult, ProductDraft, Registry, Wait
from calibd.store import StoreBusy, StoreValueError, format_time, parse_time
from calibd.store.sqlite.errors import translate
from calibd.testing import running_pipeline, start_pipeline
from calibd.transports.base import RawMessage
from tests.conftest import example

DEEP = b"[" * 5000 + b"]" * 5000
BINARY = [
    ("ce_specversion", b"1.0"),
    ("ce_id", b"deep-1"),
    ("ce_source", b"tests"),
    ("ce_type", b"ctao.acada.weather"),
]


def message(payload: bytes, n: int, headers=None) -> RawMessage:
    return RawMessage("kafka", f"t[0]@{n}", f"kafka:t:0:{n}", payload, headers)


@pytest.fixture
async def pipe(tmp_path):
    """A pipeline whose weather handler makes a product; with a `rawname` extension (hex
    bytes) it also waits on that name decoded as a file name (os.fsdecode, as from a FITS
    header or a directory), which SQLite cannot store when the bytes are not UTF-8."""
    registry = Registry()

    async def weather(event, ctx):
        rawname = (event.model_extra or {}).get("rawname")
        waits = []
        if rawname is not None:
            name = os.fsdecode(bytes.fromhex(rawname))
            waits.append(Wait("file", name, datetime.now(UTC) + timedelta(hours=1)))
        return HandlerResult(
            products=[
                ProductDraft(
                    product_type="weather_echo",
                    valid_from=event.data.time,
                    payload={"site": event.data.site},
                )
            ],
            waits=waits,
        )

    registry.register("ctao.acada.weather", weather)
    async with running_pipeline(tmp_path, registry=registry, waits=False) as h:
        fatal: list[BaseException] = []
        h.pipeline.on_fatal = fatal.append
        yield h.pipeline, h.store, fatal


async def test_deep_json_and_null_headers_become_dead_letters_with_the_bytes(pipe):
    pipeline, store, fatal = pipe
    weather = example("ctao.acada.weather")
    in_extension = json.dumps({**weather, "deep": "X"}).encode().replace(b'"X"', DEEP)
    cases = [
        message(DEEP, 1),
        message(in_extension, 2),
        message(DEEP, 3, BINARY),
        message(json.dumps(example("ctao.acada.weather")).encode(), 4, [("trace", None)]),
        message(json.dumps(weather["data"]).encode(), 5, [*BINARY, ("ce_subject", None)]),
    ]
    outcomes = [await pipeline.process(m) for m in cases]
    assert [o.status for o in outcomes] == ["dead", "dead", "dead", "done", "dead"]
    assert {o.reason for o in outcomes if o.status == "dead"} == {"malformed"}
    letters = {d["origin"]: d for d in await store.dead_letters()}
    assert "recursion limit exceeded" in letters["t[0]@1"]["detail"]
    assert bytes(letters["t[0]@2"]["payload"]) == in_extension
    assert letters["t[0]@3"]["event_id"] == "deep-1"  # known from the headers
    assert "'ce_subject' has no value" in letters["t[0]@5"]["detail"]
    assert json.loads(letters["t[0]@5"]["headers"])["ce_subject"] is None
    assert fatal == []
    dlq = [r for r in await store.pending_deliveries("kafka", 50) if r.channel == "dlq"]
    assert len(dlq) == 4


async def test_a_value_sqlite_cannot_store_dead_letters_only_that_message(pipe):
    pipeline, store, fatal = pipe
    good = [example("ctao.acada.weather") for _ in range(5)]
    bad = {**example("ctao.acada.weather"), "rawname": "72756effff"}  # b"run\xff\xff"
    raws = [message(json.dumps(e).encode(), i) for i, e in enumerate([*good[:2], bad, *good[2:]])]
    outcomes = await asyncio.gather(*(pipeline.process(r) for r in raws))  # one group commit
    assert [o.status for o in outcomes] == ["done", "done", "dead", "done", "done", "done"]
    assert outcomes[2].reason == "unstorable" and outcomes[2].dead_letter_id is not None
    (letter,) = await store.dead_letters()
    assert "UnicodeEncodeError" in letter["detail"]
    assert bytes(letter["payload"]) == raws[2].payload
    assert letter["event_id"] == bad["id"]
    assert len(await store.products()) == 5 and fatal == []


async def test_a_storage_fault_stops_with_a_store_error(pipe):
    pipeline, store, fatal = pipe
    await store.w.execute("PRAGMA query_only = ON")  # every write now fails in SQLite
    with pytest.raises(StoreError, match="database write failed"):
        await pipeline.process(message(json.dumps(example("ctao.acada.weather")).encode(), 1))
    assert len(fatal) == 1 and isinstance(fatal[0], StoreError)
    await store.w.execute("PRAGMA query_only = OFF")
    assert await store.dead_letters() == [] and await store.products() == []


def storage_fault(exc: BaseException) -> bool:
    """What the daemon makes of `exc` raised by the SQLite driver, after the backend's
    translation at its edge."""
    return is_storage_fault(translate(exc) or exc)


def test_storage_faults_are_told_from_a_message_s_own_faults():
    assert storage_fault(sqlite3.OperationalError("disk I/O error"))
    assert storage_fault(sqlite3.DatabaseError("file is not a database"))
    assert storage_fault(sqlite3.ProgrammingError("Cannot operate on a closed database."))
    assert storage_fault(ValueError("no active connection"))
    assert storage_fault(OSError(28, "No space left on device"))
    assert isinstance(translate(sqlite3.OperationalError("database is locked")), StoreBusy)
    assert not storage_fault(sqlite3.IntegrityError("UNIQUE constraint failed: products.id"))
    assert not storage_fault(sqlite3.ProgrammingError("Error binding parameter 1"))
    assert not storage_fault(OverflowError("Python int too large to convert"))
    assert not storage_fault(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates"))
    assert not storage_fault(Unstorable("x")) and not storage_fault(TypeError("x"))
    assert isinstance(translate(sqlite3.IntegrityError("x")), StoreValueError)
    assert translate(TypeError("a bug in building the rows")) is None  # stays what it is


async def test_same_source_and_id_with_other_content_is_a_conflicting_duplicate(pipe):
    pipeline, store, _ = pipe
    env = example("ctao.acada.weather")
    other = {**env, "data": {**env["data"], "site": "CTAO-South"}}
    same_reordered = json.dumps(dict(reversed(list(env.items()))), indent=1).encode()
    binary = [
        ("ce_specversion", b"1.0"),
        *((f"ce_{k}", v.encode()) for k, v in env.items() if k not in ("data", "specversion")),
    ]
    first = await pipeline.process(message(json.dumps(env).encode(), 1))
    again = await pipeline.process(message(same_reordered, 2))
    as_binary = await pipeline.process(message(json.dumps(env["data"]).encode(), 3, binary))
    clash = await pipeline.process(message(json.dumps(other).encode(), 4))
    clash_redelivered = await pipeline.process(message(json.dumps(other).encode(), 4))
    assert [first.status, again.status, as_binary.status] == ["done", "duplicate", "duplicate"]
    assert (clash.status, clash.reason) == ("dead", "conflicting_duplicate")
    assert clash_redelivered.status == "duplicate"  # the same position: one dead letter
    (letter,) = await store.dead_letters()
    assert letter["event_id"] == env["id"] and "other content" in letter["detail"]
    assert len(await store.products()) == 1


async def test_concurrent_conflicting_copies_are_told_apart(pipe):
    pipeline, store, _ = pipe
    env = example("ctao.acada.weather")
    copies = [env, {**env, "subject": "changed"}, env]
    outcomes = await asyncio.gather(
        *(pipeline.process(message(json.dumps(e).encode(), i)) for i, e in enumerate(copies))
    )
    assert sorted(o.status for o in outcomes) == ["dead", "done", "duplicate"]
    assert [o.reason for o in outcomes if o.status == "dead"] == ["conflicting_duplicate"]
    assert len(await store.products()) == 1 and len(await store.dead_letters()) == 1


@pytest.mark.parametrize(
    ("change", "error", "fragment"),
    [
        ({"tel_id": "1"}, SchemaViolation, "data.tel_id: Input should be a valid integer"),
        ({"obs_id": True}, SchemaViolation, "data.obs_id: Input should be a valid integer"),
        ({"obs_id": 5.0}, SchemaViolation, "data.obs_id: Input should be a valid integer"),
        ({"run_start": "0001-01-01T00:30:00+01:00"}, SchemaViolation, "outside years 1-9999"),
        ({"run_start": 1700000000}, SchemaViolation, "data.run_start"),
    ],
)
def test_no_coercion_of_json_types(change, error, fragment):
    env = example("ctao.acada.pedestal_run", **change)
    with pytest.raises(error) as info:
        codec.decode(json.dumps(env).encode())
    assert fragment in info.value.detail


@pytest.mark.parametrize(
    ("field", "value"), [("rate_hz", 1e300), ("muon_efficiency", 1.5), ("gain_factor", 1e9)]
)
def test_trigger_rates_have_physical_bounds(field, value):
    """A rate of 1e300 Hz overflowed in the transparency handler (handler_failed)."""
    env = example("ctao.acada.trigger_rates")
    env["data"]["telescopes"][0][field] = value
    with pytest.raises(SchemaViolation, match=rf"data.telescopes.0.{field}: Input should be"):
        codec.decode(json.dumps(env).encode())


def test_no_coercion_in_binary_mode_either():
    env = example("ctao.acada.weather")
    env["data"]["ground"]["pressure_hpa"] = "787"
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"b1"), ("ce_source", b"s")]
    headers.append(("ce_type", b"ctao.acada.weather"))
    with pytest.raises(SchemaViolation, match="pressure_hpa: Input should be a valid number"):
        codec.decode(json.dumps(env["data"]).encode(), headers)
    env["data"]["ground"]["pressure_hpa"] = 787  # an integer is a valid JSON number
    assert codec.decode(json.dumps(env["data"]).encode(), headers).data.ground.pressure_hpa == 787


def test_extension_attributes_follow_cloudevents():
    env = example("ctao.acada.weather")
    event = codec.decode(json.dumps({**env, "traceparent": "00-ab", "hops": 3}).encode())
    assert event.model_extra == {"traceparent": "00-ab", "hops": 3}
    for bad, fragment in [
        ({"Trace_Id": "x"}, "lower-case letters or digits"),
        ({"nested": {"a": [1]}}, "not dict"),
        ({"big": 2**40}, "32-bit integer"),
        ({"nothing": None}, "not NoneType"),
    ]:
        with pytest.raises(MalformedMessage, match="invalid CloudEvents attributes") as info:
            codec.decode(json.dumps({**env, **bad}).encode())
        assert fragment in info.value.detail


def test_specversion_is_required():
    env = example("ctao.acada.weather")
    del env["specversion"]
    with pytest.raises(MalformedMessage, match="missing CloudEvents attribute 'specversion'"):
        codec.decode(json.dumps(env).encode())
    with pytest.raises(MalformedMessage, match="specversion"):
        codec.decode(json.dumps({**env, "specversion": "0.3"}).encode())


def test_times_of_every_year_keep_four_digits_and_sort():
    times = [datetime(y, 1, 2, 3, 4, 5, 6, tzinfo=UTC) for y in (1, 999, 1000, 2026, 9999)]
    texts = [format_time(t) for t in times]
    assert texts[1] == "0999-01-02T03:04:05.000006Z"
    assert [parse_time(t) for t in texts] == times and sorted(texts) == texts


async def test_a_time_in_year_999_is_bad_input_and_such_years_are_stored_padded(pipe):
    pipeline, _, _ = pipe
    env = example("ctao.acada.weather", time="0999-06-01T00:00:00Z")
    outcome = await pipeline.process(message(json.dumps(env).encode(), 1))
    assert (outcome.status, outcome.reason) == ("dead", "bad_input")
    # the storage format still pads such years, so that they parse back
    assert format_time(datetime(999, 6, 1, tzinfo=UTC)) == "0999-06-01T00:00:00.000000Z"
    assert parse_time("0999-06-01T00:00:00.000000Z") == datetime(999, 6, 1, tzinfo=UTC)


async def test_a_binary_mode_message_parked_for_a_retry_decodes_again(tmp_path):
    """Its attributes were headers: the retry keeps the structured form, not the bare body."""
    registry, attempts = Registry(), []

    async def weather(event, ctx):
        attempts.append(event.id)
        if len(attempts) == 1:
            raise RetriableError("busy")
        return HandlerResult(products=[ProductDraft("w", valid_from=event.data.time)])

    registry.register("ctao.acada.weather", weather)
    fast = {"pipeline": {"retry_backoff_s": 0.01}}
    h = await start_pipeline(tmp_path, registry=registry, settings=fast, sinks=(), waits=False)
    store, pipeline = h.store, h.pipeline
    try:
        env = example("ctao.acada.weather")
        headers = [("ce_specversion", b"1.0"), ("ce_type", b"ctao.acada.weather")]
        headers += [("ce_id", env["id"].encode()), ("ce_source", b"binary-producer")]
        first = await pipeline.process(message(json.dumps(env["data"]).encode(), 1, headers))
        assert first.status == "retrying"
        await asyncio.sleep(0.05)
        await pipeline.settle()
        (product,) = await store.products()
        assert attempts == [env["id"], env["id"]] and product["input_event_id"] == env["id"]
        stored = json.loads((await store.product(product["id"]))["provenance"]["input_message"])
        assert stored["source"] == "binary-producer" and stored["data"] == env["data"]
    finally:
        await h.stop()


async def test_a_message_too_large_keeps_its_first_bytes_and_says_so(tmp_path):
    small = {"pipeline": {"max_message_bytes": 1024}}
    h = await start_pipeline(tmp_path, registry=Registry(), settings=small, waits=False)
    store, pipeline = h.store, h.pipeline
    try:
        payload = json.dumps({"blob": "x" * 5000}).encode()
        outcome = await pipeline.process(message(payload, 1))
        assert (outcome.status, outcome.reason) == ("dead", "too_large")
        (letter,) = await store.dead_letters()
        assert bytes(letter["payload"]) == payload[:1024]
        assert f"the first 1024 of {len(payload)} bytes" in letter["detail"]
        (notice,) = await store.pending_deliveries("kafka", 10)
        data = json.loads(notice.envelope)["data"]
        assert data["payload_bytes"] == len(payload) and data["payload_truncated"] is True
        assert data["payload"] == payload[:1024].decode()
    finally:
        await h.stop()


async def test_a_wait_that_cannot_be_processed_fails_with_a_dead_letter(pipe):
    """E.g. its stored message no longer decodes: not tried again every second for ever."""
    pipeline, store, fatal = pipe
    env = {**example("ctao.acada.weather"), "rawname": "72756e"}  # waits on file "run"
    assert (await pipeline.process(message(json.dumps(env).encode(), 1))).status == "done"
    (wait,) = await store.waits()

    async def spoil(conn):
        await conn.execute(
            "UPDATE waits SET input_message = ?, deadline = ? WHERE id = ?",
            (b"\x00 not json", "2000-01-01T00:00:00.000000Z", wait["id"]),
        )

    await store._write(spoil)
    await pipeline.settle()
    (wait,) = await store.waits()
    assert wait["status"] == "failed" and "could not be processed" in wait["detail"]
    (letter,) = await store.dead_letters()
    assert letter["reason"] == "wait_failed" and bytes(letter["payload"]) == b"\x00 not json"
    assert letter["origin_key"] == f"wait:{wait['id']}" and fatal == []
    assert await store.due_waits(datetime.now(UTC)) == []
