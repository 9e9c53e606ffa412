"""Property tests: whatever bytes, JSON and headers arrive, the codec raises only its poison
errors, and the real Pipeline (real SQLite store) ends each message as a product, a
duplicate or a dead letter keeping the bytes, never an exception and never a stop.

Derandomized (the same examples on every run) so CI is reproducible; the example counts
keep the file at well under a minute on two cores.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calibd import codec
from calibd.config import load_settings
from calibd.errors import PoisonMessage
from calibd.events import INBOUND_MODELS, CloudEvent
from calibd.pipeline import Pipeline
from calibd.registry import HandlerResult, ProductDraft, Registry
from calibd.store import Store
from calibd.transports.base import RawMessage
from tests.conftest import example

TYPES = sorted(INBOUND_MODELS)
CE_NAMES = ["specversion", "id", "source", "type", "time", "subject", "datacontenttype"]
FAST = settings(
    max_examples=4000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PIPELINE = settings(FAST, max_examples=2500)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["5050", "true", "2026-11-24T21:00:00Z", "0999-01-01T00:00:00Z", ""])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def deep(depth: int, kind: str) -> str:
    return ("[" * depth + "]" * depth) if kind == "list" else ('{"a":' * depth + "1" + "}" * depth)


@st.composite
def envelopes(draw) -> bytes:
    """A valid example of a random type, then broken (or not) in random places."""
    env = example(draw(st.sampled_from(TYPES)))
    if draw(st.booleans()):
        env["id"] = draw(st.sampled_from(["fixed-1", "fixed-2", str(uuid.uuid4())]))
    marker = None
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(["envelope", "data", "extension", "delete", "deep"]))
        target = env["data"] if where == "data" and isinstance(env.get("data"), dict) else env
        keys = list(target) if target else ["x"]
        if where == "delete" and env:
            env.pop(draw(st.sampled_from(list(env))), None)
        elif where == "extension":
            env[draw(st.sampled_from(["ext", "traceparent", "tel", "Bad_Name"]))] = draw(
                json_values
            )
        elif where == "deep":
            marker = f"__deep_{draw(st.integers(0, 10**6))}__"
            env[draw(st.sampled_from(["data", "ext", "id"]))] = marker
        else:
            target[draw(st.sampled_from(keys))] = draw(json_values)
    text = json.dumps(env)
    if marker is not None:
        depth = draw(st.sampled_from([10, 150, 5000, 20000]))
        text = text.replace(f'"{marker}"', deep(depth, draw(st.sampled_from(["list", "dict"]))))
    return text.encode()


@st.composite
def mangled(draw) -> bytes:
    """Valid JSON bytes with bytes flipped, cut or inserted."""
    data = bytearray(draw(envelopes()))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[pos:]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


header_values = (
    st.none()
    | st.binary(max_size=24)
    | st.sampled_from(
        [b"1.0", b"0.3", b"ctao.acada.weather", b"application/json", b"text/plain", b"\xff\xfe"]
    )
)
headers = st.none() | st.lists(
    st.tuples(
        st.sampled_from([f"ce_{n}" for n in CE_NAMES] + ["content-type", "ce_ext", "trace"])
        | st.text(max_size=10),
        header_values,
    ),
    max_size=8,
)


@st.composite
def binary_mode(draw):
    """Kafka binary mode: ce_* headers (some broken or null) and a JSON (or not) body."""
    t = draw(st.sampled_from(TYPES))
    env = example(t)
    hdrs = [(f"ce_{k}", str(env[k]).encode()) for k in CE_NAMES if k in env]
    hdrs += draw(headers) or []
    draw(st.randoms(use_true_random=False)).shuffle(hdrs)
    body = draw(
        st.sampled_from(["data", "deep", "json", "bytes"]).map(
            lambda k: {
                "data": json.dumps(env["data"]).encode(),
                "deep": deep(5000, "list").encode(),
                "json": b"",
                "bytes": b"\x00\xff{",
            }[k]
        )
    )
    if draw(st.booleans()):
        body = json.dumps(draw(json_values)).encode()
    return body, hdrs


def _valid(event_type: str, event_id: str, _salt: int) -> bytes:
    return json.dumps({**example(event_type), "id": event_id}).encode()


# valid messages; the unused salt makes the few repeated ids redeliveries (duplicates)
valid = st.builds(
    _valid,
    st.sampled_from(TYPES),
    st.sampled_from(["again-1", "again-2"]) | st.uuids().map(str),
    st.integers(0, 10**6),
)
inputs = (
    st.tuples(valid, st.none())
    | st.tuples(st.binary(max_size=64), headers)
    | st.tuples(envelopes(), st.none())
    | st.tuples(mangled(), st.none())
    | st.tuples(json_values.map(lambda v: json.dumps(v).encode()), headers)
    | binary_mode()
)


def storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@FAST
@given(inputs)
def test_the_codec_raises_only_poison_errors_and_peek_never_raises(case):
    payload, hdrs = case
    try:
        event = codec.decode(payload, hdrs)
    except PoisonMessage as exc:
        assert exc.reason and exc.detail
    else:
        assert isinstance(event, CloudEvent) and event.specversion == "1.0"
        assert codec.decode(codec.encode(event)) == event  # what was accepted round-trips
    found = codec.peek(payload, hdrs)
    assert set(found) <= {"id", "type", "source"} and all(storable(v) for v in found.values())


async def echo(event, ctx) -> HandlerResult:
    """Store something of every event: its data as the payload."""
    data = event.data.model_dump(mode="json") if hasattr(event.data, "model_dump") else None
    return HandlerResult(
        products=[
            ProductDraft(
                product_type=f"echo_{event.type.rsplit('.', 1)[-1]}",
                valid_from=event.time or datetime.now(UTC),
                payload={"data": data, "extensions": event.model_extra},
            )
        ]
    )


def test_the_pipeline_ends_every_input_as_a_product_or_a_dead_letter(tmp_path):
    loop = asyncio.new_event_loop()
    registry = Registry()
    for t in TYPES:
        registry.register(t, echo, name=f"echo_{t}")
    conf = load_settings(None, {"data_dir": str(tmp_path), "pipeline": {"workers": 1}})
    store = loop.run_until_complete(Store(conf.database_path).open())
    pipeline = Pipeline(conf, store, registry, sinks=("kafka",))
    fatal: list[BaseException] = []
    pipeline.on_fatal = fatal.append
    loop.run_until_complete(pipeline.start(waits=False))
    seq = itertools.count()
    seen: dict[str, int] = {}

    @PIPELINE
    @given(inputs)
    def run(case):
        payload, hdrs = case
        n = next(seq)
        raw = RawMessage("kafka", f"hostile[0]@{n}", f"kafka:hostile:0:{n}", payload, hdrs)
        outcome = loop.run_until_complete(pipeline.process(raw))
        seen[outcome.status] = seen.get(outcome.status, 0) + 1
        assert outcome.status in ("done", "dead", "duplicate"), outcome
        if outcome.status == "dead":
            assert outcome.reason and outcome.dead_letter_id is not None
            (row,) = loop.run_until_complete(store.dead_letters(limit=1))
            assert row["id"] == outcome.dead_letter_id and bytes(row["payload"]) == payload
        if outcome.status == "done":
            assert len(outcome.product_ids) == 1
        assert not fatal

    try:
        run()
        counts = loop.run_until_complete(store.counts())
        assert counts["dead_letters"] == seen["dead"] and counts["products"] == seen["done"]
        print("outcomes of the hostile inputs:", seen)
        assert seen["done"] > 100 and seen["dead"] > 1000 and seen.get("duplicate", 0) > 10, seen
        reasons = {d["reason"] for d in loop.run_until_complete(store.dead_letters(limit=10**6))}
        assert {"malformed", "schema_violation", "conflicting_duplicate"} <= reasons
    finally:
        loop.run_until_complete(pipeline.stop())
        loop.run_until_complete(store.close())
        loop.close()
