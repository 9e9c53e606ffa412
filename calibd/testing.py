"""Test harness for calibd and for users' own handler tests: a real store and pipeline.

    from calibd.testing import envelope, running_pipeline

    async def test_my_handler(tmp_path):
        async with running_pipeline(tmp_path, registry=my_registry) as h:
            outcome = await h.process(envelope("ctao.acada.weather", station="north"))
            assert outcome.status == "done"
            product = await h.store.product(outcome.product_ids[0])

The store is the embedded SQLite database under `tmp_path` (PostgreSQL when the settings
give `database.url`), the pipeline the one the daemon runs (process pool, committer, waits);
nothing is mocked. `RecordingSink` stands in for a broker when an outbox relay is under test.
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from calibd.config import Settings, load_settings
from calibd.errors import StoreError
from calibd.events.examples import EXAMPLES
from calibd.pipeline import Outcome, Pipeline
from calibd.registry import Registry
from calibd.runtime_config import deep_merge
from calibd.store import PendingDelivery, StoreBackend
from calibd.store.factory import make_store
from calibd.transports.base import Delivered, RawMessage, Refused, inbox_raw

__all__ = [
    "Harness",
    "RecordingAdmission",
    "RecordingSink",
    "envelope",
    "eventually",
    "harness_settings",
    "outgoing",
    "raw_message",
    "running_pipeline",
    "start_pipeline",
]

T = TypeVar("T")


def envelope(event_type: str, **data: Any) -> dict[str, Any]:
    """The documented example of `event_type` with a fresh id and `data` fields replaced."""
    env = copy.deepcopy(EXAMPLES[event_type])
    env["id"] = str(uuid.uuid4())
    env["data"] = {**env["data"], **data}
    return env


def raw_message(
    message: dict[str, Any] | bytes, key: str | None = None, transport: str = "test"
) -> RawMessage:
    """A message as a transport hands it to the pipeline; `key` defaults to the envelope id."""
    payload = message if isinstance(message, bytes) else json.dumps(message).encode()
    if key is None:
        key = message.get("id", uuid.uuid4().hex) if isinstance(message, dict) else uuid.uuid4().hex
    return RawMessage(transport, "t", f"k:{key}", payload)


async def eventually(
    predicate: Callable[[], Awaitable[T]], timeout: float = 30.0, interval: float = 0.05
) -> T:
    """The first truthy result of `predicate`, polled; TimeoutError after `timeout` s."""
    async with asyncio.timeout(timeout):
        while not (result := await predicate()):  # noqa: ASYNC110 (polling is the point)
            await asyncio.sleep(interval)
    return result


def harness_settings(data_dir: Path, overrides: dict[str, Any] | None = None) -> Settings:
    """Settings for a test: data under `data_dir`, one worker process, `overrides` merged."""
    defaults: dict[str, Any] = {"data_dir": str(data_dir), "pipeline": {"workers": 1}}
    return load_settings(None, deep_merge(defaults, overrides or {}))


async def outgoing(
    store: StoreBackend,
    *,
    event_type: str | None = None,
    channel: str | None = None,
    sink: str = "kafka",
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """The envelopes waiting in the outbox for `sink`, of one type or channel if given."""
    rows = await store.pending_deliveries(sink, limit)
    return [
        json.loads(r.envelope)
        for r in rows
        if event_type in (None, r.event_type) and channel in (None, r.channel)
    ]


@dataclass
class Harness:
    """A started pipeline on its own store."""

    settings: Settings
    store: StoreBackend
    pipeline: Pipeline

    async def process(self, message: dict[str, Any] | bytes | RawMessage) -> Outcome:
        """Run one message through the whole pipeline and return its outcome."""
        raw = message if isinstance(message, RawMessage) else raw_message(message)
        return await self.pipeline.process(raw)

    async def stop(self) -> None:
        """Stop the pipeline, then close the store."""
        try:
            await self.pipeline.stop()
        finally:
            await self.store.close()


async def start_pipeline(
    data_dir: Path,
    *,
    registry: Registry | None = None,
    settings: Settings | dict[str, Any] | None = None,
    sinks: Sequence[str] = ("kafka",),
    waits: bool = True,
) -> Harness:
    """A started pipeline with `registry` (default: the installed handlers) on a store in
    `data_dir`; stop it with `Harness.stop()`, or use `running_pipeline`.

    `settings` is a Settings object or overrides for `harness_settings`; `sinks` the sinks the
    outbox rows are addressed to; `waits` False runs no waits scheduler (as after a crash).
    """
    if registry is None:
        from calibd.daemon import load_handlers

        registry = load_handlers(["calibd.handlers"])
    if not isinstance(settings, Settings):
        settings = harness_settings(data_dir, settings)
    store = await make_store(settings).open()
    try:
        pipeline = Pipeline(settings, store, registry, sinks=tuple(sinks))
        await pipeline.start(waits=waits)
    except BaseException:
        await store.close()
        raise
    return Harness(settings, store, pipeline)


@asynccontextmanager
async def running_pipeline(data_dir: Path, **options: Any) -> AsyncIterator[Harness]:
    """`start_pipeline(data_dir, **options)`, stopped on exit."""
    harness = await start_pipeline(data_dir, **options)
    try:
        yield harness
    finally:
        await harness.stop()


class RecordingAdmission:
    """An `Admission` that keeps what a source submits, for transport tests.

    Each submitted message's outcome is "done" at once, unless `durable` is False: then
    `receive_durably` raises and outcomes fail, as when the database cannot commit, so a
    correct source acknowledges nothing.
    """

    def __init__(self, durable: bool = True, capacity: int = 1000) -> None:
        self.durable = durable
        self.submitted: list[RawMessage] = []
        self.arrived = asyncio.Event()
        self._capacity = capacity
        self._next_inbox_id = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    async def wait_capacity(self, timeout: float) -> bool:
        return self._capacity > 0

    async def submit(self, raw: RawMessage) -> asyncio.Future[Outcome]:
        self.submitted.append(raw)
        self.arrived.set()
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        if self.durable:
            done.set_result(Outcome(status="done", event_id=raw.origin_key))
        else:
            done.set_exception(StoreError("the test's database refuses every commit"))
        return done

    async def submit_many(
        self, raws: Sequence[RawMessage]
    ) -> asyncio.Future[list[Outcome | BaseException]]:
        futures = [await self.submit(raw) for raw in raws]
        done: asyncio.Future[list[Outcome | BaseException]] = (
            asyncio.get_running_loop().create_future()
        )
        done.set_result([f.exception() or f.result() for f in futures])
        return done

    async def receive_durably(
        self, transport: str, messages: Sequence[tuple[str, bytes]]
    ) -> list[RawMessage]:
        if not self.durable:
            raise StoreError("the test's inbox refuses every write")
        out = []
        for origin, payload in messages:
            self._next_inbox_id += 1
            out.append(inbox_raw(self._next_inbox_id, transport, origin, payload))
        return out

    async def already_processed(self, key: tuple[str, str]) -> bool:
        return False

    async def reject(self, raw: RawMessage, error: Any, *, key: Any = None) -> Outcome:
        self.submitted.append(raw)
        self.arrived.set()
        return Outcome(status="dead", event_id=raw.origin_key, reason=error.reason)

    async def record_ignored(self, key: tuple[str, str], transport: str, why: str) -> None:
        return None

    async def hold_lease(self, name: str, lease_s: float) -> bool:
        return True


@dataclass
class RecordingSink:
    """A sink that keeps what it is given; `fail` makes the next publish raise it once."""

    name: str = "kafka"
    published: list[PendingDelivery] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    fail: BaseException | None = None

    async def publish(
        self, rows: Sequence[PendingDelivery], delivered: Delivered, refused: Refused
    ) -> None:
        if self.fail is not None:
            exc, self.fail = self.fail, None
            raise exc
        for row in rows:
            if row.event_id in self.refuse:
                refused(row.event_id, "refused by the test")
                continue
            self.published.append(row)
            delivered(row.event_id)

    async def close(self) -> None:
        return None
