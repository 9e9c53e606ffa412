"""The path of one message: validate -> dedup -> dispatch -> handler -> one transaction.

    source --submit--> decode (codec) --poison--> dead letter ----------------+
                         |                                                  |
                         +-- (source, id) done before? --> duplicate ------+
                         |     (other content: conflicting_duplicate dead letter)
                         |                                                  |
                         +-- handler(event, ctx) --> products, messages ---+--> Committer
                                (CPU work in the process pool)                (group commit:
                                                                               ledger, products,
                                                                               provenance, outbox,
                                                                               dead letters)
The future `submit` returns resolves only after the commit; sources acknowledge then
(Kafka offset commit, MQTT inbox row removal). Nothing is acknowledged before it is durable.
A failure that is not a storage fault (`calibd.faults`) ends the message as an `unstorable`
dead letter; a storage fault fails the future and calls `on_fatal` (the daemon stops).
"""

from __future__ import annotations

import asyncio
import io
import json
import platform
import random
import socket
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from pydantic import BaseModel, ValidationError

import calibd
from calibd import codec
from calibd.committer import Committer
from calibd.config import Settings, config_hash
from calibd.datafiles import InputFile, resolve_data_file
from calibd.dead_letter_notice import dead_letter_data
from calibd.dead_letters import build_record
from calibd.dedup import DedupLookup, conflict, digest
from calibd.errors import (
    BadInput,
    MessageError,
    PoisonMessage,
    RetriableError,
    StoreError,
    UnknownEventType,
)
from calibd.events import OUTBOUND_MODELS, CloudEvent
from calibd.events.calibpipe import (
    CalibrationReady,
    CalibrationReadyEvent,
    DeadLetterEvent,
)
from calibd.events.common import DataFile
from calibd.events.envelope import new_event_id
from calibd.executor import CpuPool
from calibd.faults import is_storage_fault
from calibd.ids import new_product_id
from calibd.jsonable import to_jsonable
from calibd.metrics import Metrics
from calibd.product_check import check_product
from calibd.registry import (
    Handler,
    HandlerResult,
    OutgoingMessage,
    PendingWait,
    ProductDraft,
    Registry,
    product_wait_key,
)
from calibd.runtime_config import ConfigVersion, RuntimeConfig
from calibd.sources.base import RawMessage
from calibd.store import (
    Completion,
    OutboxRecord,
    ProductRecord,
    Store,
    format_time,
    parse_time,
)
from calibd.timerange import check_event_times

__all__ = ["Outcome", "Pipeline"]

log = structlog.get_logger("calibd.pipeline")

CHANNEL_OF_TYPE = {
    "ctao.calibpipe.calibration_ready": "products",
    "ctao.calibpipe.quality_request": "quality",
    "ctao.calibpipe.report": "reports",
    "ctao.calibpipe.dead_letter": "dlq",
}


@dataclass
class Outcome:
    """What became of a message."""

    status: str  # done | dead | duplicate | ignored
    event_id: str | None = None
    event_type: str | None = None
    product_ids: list[str] = field(default_factory=list)
    reason: str | None = None
    dead_letter_id: int | None = None


def _software() -> str:
    import astropy
    import pydantic

    return json.dumps(
        {
            "calibd": calibd.__version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "astropy": astropy.__version__,
            "pydantic": pydantic.__version__,
        },
        sort_keys=True,
    )


def _arrays_blob(arrays: dict[str, np.ndarray]) -> bytes | None:
    if not arrays:
        return None
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # uncompressed: bit-exact and fast
    return buf.getvalue()


def load_arrays(blob: bytes | None) -> dict[str, np.ndarray]:
    """Inverse of the arrays column encoding."""
    if not blob:
        return {}
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


#: A product committed after (handler start - margin) wakes a wait parked on its kind at
#: once: the handler may have looked before the product was committed (see Store.commit).
_WAKE_MARGIN = timedelta(seconds=2)


class _Context:
    """The HandlerContext the pipeline passes to a handler."""

    def __init__(
        self, pipeline: Pipeline, handler: Handler, version: ConfigVersion, category: str, bound_log
    ) -> None:
        self._pipeline = pipeline
        self.handler = handler
        self.category = category
        self.config_version = version
        self.config = version.handler_config(handler.name, category)
        self.settings = pipeline.settings
        self.runtime = pipeline.runtime
        self.pipeline = pipeline
        self.log = bound_log
        self.store = pipeline.store
        self.inputs: list[InputFile] = []

    async def run_cpu(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return await self._pipeline.pool.run(fn, *args, **kwargs)

    async def resolve_file(self, ref: DataFile | str, sha256: str | None = None) -> Path:
        uri, expected = (ref, sha256) if isinstance(ref, str) else (ref.uri, ref.sha256 or sha256)
        found = await asyncio.to_thread(
            resolve_data_file,
            uri,
            self.settings.effective_data_roots,
            expected,
            self.settings.pipeline.max_file_bytes,
            self.settings.pipeline.max_decompressed_bytes,
        )
        self.inputs.append(found)
        return Path(found.path)


class Pipeline:
    """Validates, deduplicates and dispatches messages; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        registry: Registry,
        sinks: tuple[str, ...] = (),
        pool: CpuPool | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.sinks = sinks
        self.pool = pool or CpuPool(settings.pipeline.workers)
        self.runtime = RuntimeConfig(settings, registry)  # validates every handler's settings
        self._config_cache: dict[tuple[str, str, int], tuple[str, str]] = {}
        self._slots = asyncio.Semaphore(settings.pipeline.max_in_flight)
        self._admitted = 0
        self._room = asyncio.Event()
        self._inflight: dict[tuple[str, str], asyncio.Future[Outcome]] = {}
        self._digests: dict[int, str] = {}  # id(event) -> content digest, while in flight
        self._dedup = DedupLookup(store)
        self._committer = Committer(store, settings.pipeline.commit_batch_max)
        self._tasks: set[asyncio.Task] = set()
        self._waits_due = asyncio.Event()
        self._waits_running: set[int] = set()
        self._waits_task: asyncio.Task | None = None
        self._software = _software()
        self._host = socket.gethostname()
        self.on_fatal: Callable[[BaseException], None] = lambda exc: None
        self.stats: Counter[str] = Counter()
        self.metrics = Metrics()
        self.running: dict[int, tuple[str, float]] = {}  # id(ctx) -> (handler, start time)

    # --- life cycle -----------------------------------------------------------------------

    async def start(self, waits: bool = True) -> None:
        """Load the configuration version from the DB and start the committer and waits."""
        await self.runtime.load(self.store)
        self._committer.start()
        self._committer.on_commit = self._after_commit
        if waits:
            self._waits_task = asyncio.create_task(self._run_waits(), name="calibd-waits")

    def _after_commit(self) -> None:
        self._waits_due.set()
        self._commit_listener()

    _commit_listener: Callable[[], None] = staticmethod(lambda: None)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` after every successful group commit (the outbox relay's wake-up)."""
        self._commit_listener = callback

    async def drain(self) -> None:
        """Wait until every submitted message is committed (a timeout around this call
        leaves the messages running: `abandon` is the explicit way to give up)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def abandon(self) -> None:
        """Give up on in-flight messages (not acknowledged: redone at the next start)."""
        self.pool.terminate()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        if self._waits_task is not None:
            self._waits_task.cancel()
            await asyncio.gather(self._waits_task, return_exceptions=True)
        await self.drain()
        await self._committer.stop()
        self.pool.shutdown()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    @property
    def capacity(self) -> int:
        """How many more messages `submit` takes without waiting."""
        return max(0, self.settings.pipeline.max_in_flight - self._admitted)

    async def wait_capacity(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for room in the pipeline; True if there is some."""
        while self.capacity == 0:
            self._room.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._room.wait()
            except TimeoutError:
                return self.capacity > 0
        return True

    # --- intake ---------------------------------------------------------------------------

    async def submit(self, raw: RawMessage) -> asyncio.Future[Outcome]:
        """Start processing `raw`; waits while max_in_flight messages are in progress.

        The returned future resolves with the Outcome once the result is committed.
        """
        await self._slots.acquire()
        self._admitted += 1
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._process(raw, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return done

    async def process(self, raw: RawMessage) -> Outcome:
        """Submit and wait for the outcome."""
        return await (await self.submit(raw))

    async def _process(self, raw: RawMessage, done: asyncio.Future[Outcome]) -> None:
        started = time.perf_counter()
        structlog.contextvars.bind_contextvars(transport=raw.transport, origin=raw.origin)
        try:
            try:
                outcome = await self._process_inner(raw)
            except Exception as exc:
                outcome = await self._after_failure(raw, exc)
        except Exception as exc:  # not committed: the message is NOT acknowledged
            if not done.done():
                done.set_exception(exc)
            return
        finally:
            self._admitted -= 1
            self._slots.release()
            self._room.set()
        self.stats[outcome.status] += 1
        self.metrics.message(outcome.event_type, outcome.status)
        log.info(
            "message processed",
            outcome=outcome.status,
            product_ids=outcome.product_ids,
            reason=outcome.reason,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        if not done.done():
            done.set_result(outcome)

    async def _after_failure(self, raw: RawMessage, exc: Exception) -> Outcome:
        """A storage fault stops the daemon (re-raised, nothing acknowledged); any other
        failure is this message's: it is dead-lettered as `unstorable` with the error."""
        if is_storage_fault(exc):
            log.error("message not committed: database fault", error=str(exc))
            self.on_fatal(exc)
            raise exc
        log.error("message could not be recorded as processed", error=repr(exc))
        error = MessageError(f"its outcome could not be stored ({exc})", reason="unstorable")
        try:
            return await self._dead_letter(raw, error, fallback=True)
        except Exception as again:
            if not is_storage_fault(again):
                log.error("dead letter could not be stored", error=repr(again))
                again = StoreError(f"dead letter of {raw.origin} could not be stored: {again}")
            else:
                log.error("message not committed: database fault", error=str(again))
            self.on_fatal(again)
            raise again from exc

    async def _process_inner(self, raw: RawMessage) -> Outcome:
        if len(raw.payload) > self.settings.pipeline.max_message_bytes:
            return await self._dead_letter(
                raw,
                PoisonMessage(
                    f"message of {len(raw.payload)} bytes exceeds "
                    f"pipeline.max_message_bytes={self.settings.pipeline.max_message_bytes}",
                    reason="too_large",
                ),
            )
        try:
            event = codec.decode(raw.payload, raw.headers)
        except PoisonMessage as exc:
            return await self._dead_letter(raw, exc)
        key = (event.source, event.id)
        structlog.contextvars.bind_contextvars(
            event_id=event.id, event_type=event.type, event_source=event.source
        )
        while (first := self._inflight.get(key)) is not None:
            await asyncio.wait([first])  # the same key is being processed: await its commit
        mine: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._inflight[key] = mine
        self._digests[id(event)] = content = digest(event)
        try:
            seen, known = await self._dedup.seen(key)
            if seen:
                outcome = await self._duplicate(raw, event, content, known)
            else:
                outcome = await self._dispatch(raw, event)
            mine.set_result(outcome)
            return outcome
        except BaseException as exc:
            mine.set_exception(exc)
            mine.exception()  # mark retrieved
            raise
        finally:
            del self._inflight[key]
            del self._digests[id(event)]

    async def _duplicate(
        self, raw: RawMessage, event: CloudEvent, content: str, known: str | None
    ) -> Outcome:
        clash = conflict(event, content, known)
        if clash is not None:  # the key is in the ledger already: only the dead letter
            return await self._dead_letter(raw, clash, event, ledger=False)
        log.info("duplicate message skipped")
        if raw.inbox_id is not None:
            await self._committer.commit(
                Completion(status="duplicate", transport=raw.transport, inbox_id=raw.inbox_id)
            )
        return Outcome(status="duplicate", event_id=event.id, event_type=event.type)

    # --- dispatch -------------------------------------------------------------------------

    async def _dispatch(self, raw: RawMessage, event: CloudEvent) -> Outcome:
        handler = self.registry.get(event.type)
        if handler is None:
            return await self._dead_letter(
                raw, UnknownEventType(f"no handler is registered for {event.type!r}"), event
            )
        try:
            check_event_times(event)  # a period in year 0001 is bad input, not a crash
        except BadInput as exc:
            return await self._dead_letter(raw, exc, event)
        return await self._invoke(handler, handler.fn, event, raw, event)

    async def _invoke(
        self,
        handler: Handler,
        hook: Callable[..., Any],
        arg: Any,
        raw: RawMessage,
        event: CloudEvent,
        wait: tuple[int, str] | None = None,
        category: str | None = None,
        ledger: bool = True,
        attempt: int = 1,
    ) -> Outcome:
        """Call `hook(arg, ctx)` once; commit its result, park a retry, or dead-letter.

        `wait` is (wait id, status to set) when the call completes a stored wait; `category`
        selects the configuration profile (default: the configured default category);
        `ledger=False` runs a message the ledger already holds (resume/expire hooks,
        reprocessing); `attempt` counts the attempts at this message (retries).

        A RetriableError parks the message: a `retry` wait stored with the attempt number and
        the time of the next attempt, committed like any outcome (so the transport is
        acknowledged and nothing waits in memory). Past `pipeline.retry_attempts` retries,
        the message is dead-lettered. A retriable failure of a resume/expire hook leaves its
        wait open with the same backoff (attempts and next time stored on the wait), and
        fails the wait with a dead letter past `pipeline.retry_attempts`.
        """
        version = self.runtime.current  # one version for the whole message
        category = category or version.default_category
        bound = log.bind(handler=handler.name, config_version=version.version)
        ctx = _Context(self, handler, version, category, bound)
        started_at = datetime.now(UTC)
        t0 = time.perf_counter()
        self.running[id(ctx)] = (handler.name, t0)
        try:
            try:
                limit = self.settings.pipeline.handler_timeout_s
                async with asyncio.timeout(limit):
                    result = await hook(arg, ctx)
            except TimeoutError:
                self.pool.terminate()  # stop the computation; other callers retry
                raise RetriableError(
                    f"handler ran past pipeline.handler_timeout_s={limit}"
                ) from None
            finally:
                del self.running[id(ctx)]
                self.metrics.handler(handler.name, time.perf_counter() - t0)
            if not isinstance(result, HandlerResult):
                raise TypeError(
                    f"handler {handler.name} returned {type(result).__name__}, not HandlerResult"
                )
            completion = self._completion(raw, event, handler, ctx, result, started_at)
        except PoisonMessage as exc:
            return await self._dead_letter(raw, exc, event, wait=wait, ledger=ledger)
        except RetriableError as exc:
            if hook is not handler.fn and wait is not None:
                if attempt > self.settings.pipeline.retry_attempts:
                    exc.detail = f"{exc.detail} (wait hook, after {attempt} attempts)"
                    return await self._dead_letter(raw, exc, event, wait=wait, ledger=ledger)
                delay = self._backoff(attempt)
                await self.store.defer_wait(
                    wait[0], attempt, datetime.now(UTC) + timedelta(seconds=delay)
                )
                bound.warning(
                    "wait hook failed, tried again later",
                    error=exc.detail,
                    attempt=attempt,
                    next_attempt_in_s=round(delay, 2),
                )
                return Outcome(status="retrying", event_id=event.id, event_type=event.type)
            if attempt > self.settings.pipeline.retry_attempts:
                exc.detail = f"{exc.detail} (after {attempt} attempts)"
                return await self._dead_letter(raw, exc, event, wait=wait, ledger=ledger)
            return await self._park_retry(raw, event, handler, attempt, exc, wait, bound)
        except Exception as exc:
            summary = "".join(traceback.format_exception(exc, limit=-3)).strip()
            err = MessageError(f"{type(exc).__name__}: {exc}\n{summary}", reason="handler_failed")
            return await self._dead_letter(raw, err, event, wait=wait, ledger=ledger)
        if not ledger:
            completion.source = completion.event_id = None  # the message is in the ledger
        if wait is not None:
            completion.wait_id, completion.wait_status = wait
        await self._committer.commit(completion)
        return Outcome(
            status="duplicate" if completion.was_duplicate else completion.status,
            event_id=event.id,
            event_type=event.type,
            product_ids=[p.id for p in completion.products] if not completion.was_duplicate else [],
        )

    def _backoff(self, attempt: int) -> float:
        """Seconds before retry `attempt`: exponential from retry_backoff_s, capped, jittered."""
        base = self.settings.pipeline.retry_backoff_s
        delay = min(base * 2 ** (attempt - 1), self.settings.pipeline.retry_max_backoff_s)
        return delay * random.uniform(0.8, 1.2)

    async def _park_retry(
        self,
        raw: RawMessage,
        event: CloudEvent,
        handler: Handler,
        attempt: int,
        error: RetriableError,
        wait: tuple[int, str] | None,
        bound,
    ) -> Outcome:
        delay = self._backoff(attempt)
        bound.warning(
            "retriable failure, retry parked",
            error=error.detail,
            attempt=attempt,
            next_attempt_in_s=round(delay, 2),
        )
        completion = Completion(
            status="retrying",
            transport=raw.transport,
            inbox_id=raw.inbox_id,
            waits=[
                {
                    "handler": handler.name,
                    "kind": "retry",
                    "key": f"{event.source}|{event.id}",
                    "deadline": format_time(datetime.now(UTC) + timedelta(seconds=delay)),
                    "event_source": event.source,
                    "event_id": event.id,
                    "input_message": codec.stored_form(raw.payload, raw.headers, event),
                    "input_transport": raw.transport,
                    "input_origin": raw.origin,
                    "state": json.dumps({"attempt": attempt + 1, "last_error": error.detail}),
                }
            ],
        )
        if wait is not None:
            completion.wait_id, completion.wait_status = wait[0], "completed"
            completion.wait_detail = f"attempt {attempt} failed: {error.detail}"[:2000]
        await self._committer.commit(completion)
        return Outcome(
            status="retrying", event_id=event.id, event_type=event.type, reason=error.reason
        )

    # --- waits ----------------------------------------------------------------------------

    def wake_waits(self) -> None:
        self._waits_due.set()

    async def settle(self, passes: int = 10) -> None:
        """Run the waits that are due now, and those their results make due, until none is
        left (at most `passes` rounds): a replay ends with its input, not with the waits loop."""
        for _ in range(passes):
            await self.drain()
            rows = [
                r
                for r in await self.store.due_waits(datetime.now(UTC))
                if r["id"] not in self._waits_running
            ]
            if not rows:
                return
            self._start_waits(rows)

    async def _run_waits(self) -> None:
        """Act on ready and expired waits, after each commit and at least every second."""
        while True:
            try:
                async with asyncio.timeout(1.0):
                    await self._waits_due.wait()
            except TimeoutError:
                pass
            self._waits_due.clear()
            try:
                rows = await self.store.due_waits(datetime.now(UTC))
            except Exception as exc:  # the database went away: the daemon is stopping
                log.error("cannot read waits", error=str(exc))
                continue
            self._start_waits(rows)

    def _start_waits(self, rows: list[Any]) -> None:
        for row in rows:
            if row["id"] in self._waits_running:
                continue
            self._waits_running.add(row["id"])
            task = asyncio.create_task(self._act_on_wait(row))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _act_on_wait(self, row: Any) -> None:
        try:
            raw = RawMessage(
                transport=row["input_transport"],
                origin=row["input_origin"],
                origin_key=f"wait:{row['id']}",
                payload=row["input_message"],
            )
            event = codec.decode(raw.payload)
            structlog.contextvars.bind_contextvars(
                event_id=event.id,
                event_type=event.type,
                event_source=event.source,
                wait_id=row["id"],
                transport=raw.transport,
                origin=raw.origin,
            )
            ready = row["status"] == "ready"
            handler = self.registry.by_name(row["handler"])
            if row["kind"] == "retry" and handler is not None:
                state = json.loads(row["state"])
                outcome = await self._invoke(
                    handler,
                    handler.fn,
                    event,
                    raw,
                    event,
                    wait=(row["id"], "completed"),
                    attempt=state["attempt"],
                )
                log.info(
                    "retry attempt ended",
                    attempt=state["attempt"],
                    outcome=outcome.status,
                    product_ids=outcome.product_ids,
                )
                return
            hook = None if handler is None else (handler.resume if ready else handler.expire)
            pending = PendingWait(
                id=row["id"],
                kind=row["kind"],
                key=row["key"],
                state=json.loads(row["state"]),
                event=event,
                created_at=parse_time(row["created_at"]),
                deadline=parse_time(row["deadline"]),
                resolved_by=json.loads(row["resolved_by"]) if row["resolved_by"] else None,
            )
            if handler is None or hook is None:
                status = "failed" if handler is None else "expired"
                detail = (
                    f"handler {row['handler']!r} is no longer registered"
                    if handler is None
                    else f"deadline passed waiting for {row['kind']} {row['key']}"
                )
                log.error("wait ended without a result", status=status, detail=detail)
                await self._committer.commit(
                    Completion(
                        status=status,
                        transport=raw.transport,
                        wait_id=row["id"],
                        wait_status=status,
                        wait_detail=detail,
                    )
                )
                return
            outcome = await self._invoke(
                handler,
                hook,
                pending,
                raw,
                event,
                wait=(row["id"], "completed" if ready else "expired"),
                ledger=False,
                attempt=row["attempts"] + 1,
            )
            log.info(
                "wait ended",
                wait_status="completed" if ready else "expired",
                outcome=outcome.status,
                product_ids=outcome.product_ids,
            )
        except Exception as exc:
            log.error("wait could not be processed", wait_id=row["id"], error=repr(exc))
            await self._fail_wait(row, exc)
        finally:
            self._waits_running.discard(row["id"])

    async def _fail_wait(self, row: Any, exc: Exception) -> None:
        """A wait whose processing failed: on a storage fault, stop; otherwise the wait fails
        with a dead letter of its message (rather than being tried again every second)."""
        if is_storage_fault(exc):
            self.on_fatal(exc)
            return
        raw = RawMessage(
            transport=row["input_transport"],
            origin=row["input_origin"],
            origin_key=f"wait:{row['id']}",
            payload=row["input_message"],
        )
        error = MessageError(f"the wait could not be processed: {exc!r}", reason="wait_failed")
        try:
            await self._dead_letter(raw, error, wait=(row["id"], "failed"), ledger=False)
        except Exception as again:
            log.error("failed wait could not be recorded", wait_id=row["id"], error=repr(again))
            if is_storage_fault(again):
                self.on_fatal(again)

    def _completion(
        self,
        raw: RawMessage,
        event: CloudEvent,
        handler: Handler,
        ctx: _Context,
        result: HandlerResult,
        started_at: datetime,
    ) -> Completion:
        products: list[ProductRecord] = []
        outbox: list[OutboxRecord] = []
        if result.products:
            config_json, chash = self._config_record(handler, ctx)
            finished_at = format_time(datetime.now(UTC))
            input_files = json.dumps([f.__dict__ for f in ctx.inputs])
        for draft in result.products:
            check_product(draft)  # every number finite or declared missing, else a dead letter
            record = self._product_record(draft, event, handler, chash, ctx)
            record.provenance = {
                "input_message": codec.stored_form(raw.payload, raw.headers, event),
                "input_transport": raw.transport,
                "input_origin": raw.origin,
                "input_files": input_files,
                "algorithm": record.algorithm,
                "algorithm_version": record.algorithm_version,
                "handler": handler.name,
                "config": config_json,
                "config_hash": chash,
                "software": self._software,
                "host": self._host,
                "started_at": format_time(started_at),
                "finished_at": finished_at,
            }
            products.append(record)
            outbox.append(self._ready_notice(record, draft))
        for message in result.messages:
            outbox.append(self._outgoing(message))
        resolves = [
            (*product_wait_key(p.product_type, p.tel_id), json.dumps({"product_id": p.id}))
            for p in products
        ]
        resolves += [
            (
                kind,
                key,
                json.dumps(
                    {
                        "event_id": event.id,
                        "event_type": event.type,
                        "product_ids": [p.id for p in products],
                    }
                ),
            )
            for kind, key in result.resolves
        ]
        waits = [
            {
                "handler": handler.name,
                "kind": w.kind,
                "key": w.key,
                "deadline": format_time(w.deadline),
                "event_source": event.source,
                "event_id": event.id,
                "input_message": codec.stored_form(raw.payload, raw.headers, event),
                "input_transport": raw.transport,
                "input_origin": raw.origin,
                "state": json.dumps(to_jsonable(w.state)),
                "since": format_time(started_at - _WAKE_MARGIN),
            }
            for w in result.waits
        ]
        return Completion(
            status="done",
            transport=raw.transport,
            source=event.source,
            event_id=event.id,
            event_type=event.type,
            products=products,
            outbox=outbox,
            inbox_id=raw.inbox_id,
            waits=waits,
            resolves=resolves,
            digest=self._digests.get(id(event)),
        )

    def _config_record(self, handler: Handler, ctx: _Context) -> tuple[str, str]:
        """The configuration a product records (JSON) and its sha256."""
        key = (handler.name, ctx.category, ctx.config_version.version)
        cached = self._config_cache.get(key)
        if cached is None:
            doc = {
                "config_version": ctx.config_version.version,
                "handler": handler.name,
                "category": ctx.category,
                "handler_config": ctx.config.model_dump(mode="json"),
                "site": self.settings.site,
            }
            cached = (json.dumps(doc, sort_keys=True), config_hash(doc))
            self._config_cache[key] = cached
        return cached

    def _product_record(
        self, draft: ProductDraft, event: CloudEvent, handler: Handler, chash: str, ctx: _Context
    ) -> ProductRecord:
        return ProductRecord(
            id=draft.id or new_product_id(),
            product_type=draft.product_type,
            tel_id=draft.tel_id,
            category=draft.category or ctx.category,
            valid_from=format_time(draft.valid_from),  # type: ignore[arg-type]
            valid_to=format_time(draft.valid_to),
            created_at=format_time(datetime.now(UTC)),  # type: ignore[arg-type]
            input_source=event.source,
            input_event_id=event.id,
            algorithm=draft.algorithm or handler.algorithm,
            algorithm_version=draft.algorithm_version or handler.version,
            config_hash=chash,
            payload=json.dumps(to_jsonable(draft.payload)),
            summary=json.dumps(to_jsonable(draft.summary)),
            arrays=_arrays_blob(draft.arrays),
            provenance={},
            config_version=ctx.config_version.version,
            supersedes=list(draft.supersedes),
            truncates=list(draft.truncates),
        )

    def _ready_notice(self, record: ProductRecord, draft: ProductDraft) -> OutboxRecord:
        event = CalibrationReadyEvent(
            id=new_event_id(),
            source=self.settings.source_uri,
            time=datetime.now(UTC),
            subject=record.id,
            data=CalibrationReady(
                product_id=record.id,
                product_type=record.product_type,
                tel_id=record.tel_id,
                category=record.category,  # type: ignore[arg-type]
                valid_from=draft.valid_from,
                valid_to=draft.valid_to,
                algorithm=record.algorithm,
                algorithm_version=record.algorithm_version,
                config_hash=record.config_hash,
                input_event_id=record.input_event_id,
                summary=json.loads(record.summary),
            ),
        )
        return self._outbox_record(
            event, subtopic=record.product_type, key=f"{record.product_type}/{record.tel_id}"
        )

    def _outgoing(self, message: OutgoingMessage) -> OutboxRecord:
        model = OUTBOUND_MODELS.get(message.type)
        if model is None or message.type not in CHANNEL_OF_TYPE:
            raise TypeError(f"{message.type!r} is not an outbound event type")
        data = (
            message.data.model_dump(mode="json")
            if isinstance(message.data, BaseModel)
            else to_jsonable(message.data)
        )
        try:
            event = model(
                id=message.id or new_event_id(),
                source=self.settings.source_uri,
                time=datetime.now(UTC),
                subject=message.subject,
                data=data,
            )
        except ValidationError as exc:
            raise TypeError(f"invalid outgoing {message.type}: {exc}") from None
        return self._outbox_record(event, key=message.subject)

    def _outbox_record(
        self, event: CloudEvent, subtopic: str | None = None, key: str | None = None
    ) -> OutboxRecord:
        return OutboxRecord(
            event_id=event.id,
            event_type=event.type,
            channel=CHANNEL_OF_TYPE[event.type],
            envelope=codec.encode(event),
            sinks=self.sinks,
            subtopic=subtopic,
            key=key,
        )

    # --- for sources that judge a message before it has an envelope ------------------------

    async def reject(
        self, raw: RawMessage, error: MessageError, key: tuple[str, str] | None = None
    ) -> Outcome:
        """Dead-letter `raw` (e.g. an unparsable trigger file); `key` enters it in the ledger."""
        return await self._dead_letter(raw, error, key=key)

    async def record_ignored(self, key: tuple[str, str], transport: str, why: str) -> None:
        """Enter a message calibd does not act on in the ledger, so it is never looked at again."""
        log.info("message ignored", event_source=key[0], event_id=key[1], why=why)
        await self._committer.commit(
            Completion(status="ignored", transport=transport, source=key[0], event_id=key[1])
        )
        self.stats["ignored"] += 1

    # --- dead letters ---------------------------------------------------------------------

    async def _dead_letter(
        self,
        raw: RawMessage,
        error: MessageError,
        event: CloudEvent | None = None,
        key: tuple[str, str] | None = None,
        wait: tuple[int, str] | None = None,
        ledger: bool = True,
        fallback: bool = False,
    ) -> Outcome:
        """Record `raw` as a dead letter. `fallback`: after a failure to store its outcome,
        the plainest record (no ledger entry, no wait), which its content cannot break."""
        if event is not None and not fallback:
            info = {"id": event.id, "type": event.type, "source": event.source}
        else:
            info = codec.peek(raw.payload, raw.headers)
        if key is not None and event is None:
            info = {"source": key[0], "id": key[1], **info}
        record = build_record(raw, error, info, self.settings.pipeline.max_message_bytes)
        log.error(
            "message dead-lettered",
            reason=record.reason,
            detail=record.detail,
            event_id=record.event_id,
            event_type=record.event_type,
        )

        def dlq(dead_letter_id: int) -> OutboxRecord:
            notice = DeadLetterEvent(
                id=new_event_id(),
                source=self.settings.source_uri,
                time=datetime.now(UTC),
                subject=str(dead_letter_id),
                data=dead_letter_data(
                    dead_letter_id,
                    reason=record.reason,
                    detail=record.detail,
                    transport=record.transport,
                    origin=record.origin,
                    event_id=record.event_id,
                    event_type=record.event_type,
                    payload=record.payload,
                    size=len(raw.payload),
                ),
            )
            return self._outbox_record(notice, key=notice.data.event_type)

        # a message with a valid envelope is also entered in the ledger, so a redelivery
        # of it is recognised as a duplicate instead of being dead-lettered again
        in_ledger = ledger and not fallback and (event is not None or key is not None)
        completion = Completion(
            status="dead",
            transport=record.transport,
            source=info.get("source") if in_ledger else None,
            event_id=info.get("id") if in_ledger else None,
            event_type=record.event_type,
            dead_letter=record,
            dlq=dlq,
            inbox_id=raw.inbox_id,
            outbox=[self._outgoing(m) for m in getattr(error, "replies", [])],
            digest=self._digests.get(id(event)) if event is not None else None,
        )
        if wait is not None and not fallback:
            completion.wait_id, completion.wait_status = wait[0], "failed"
            completion.wait_detail = f"{error.reason}: {error.detail}"[:2000]
        await self._committer.commit(completion)
        return Outcome(
            status="duplicate" if completion.was_duplicate else "dead",
            event_id=record.event_id,
            event_type=record.event_type,
            reason=record.reason,
            dead_letter_id=completion.dead_letter_id,
        )
