"""The Pipeline: admission of messages (bounded in flight), the stages wired together, and
the life cycle of the committer and the waits scheduler."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from calibd.committer import Committer
from calibd.config import Settings
from calibd.errors import MessageError, StoreError
from calibd.events import CloudEvent
from calibd.executor import CpuPool
from calibd.faults import is_storage_fault
from calibd.ids import process_holder
from calibd.logs import get_logger
from calibd.metrics import Metrics
from calibd.pipeline.batch import BatchIntake
from calibd.pipeline.calls import reprocess_call
from calibd.pipeline.context import CallContext
from calibd.pipeline.dead_lettering import DeadLettering
from calibd.pipeline.dispatch import Dispatcher
from calibd.pipeline.intake import Intake
from calibd.pipeline.invoke import Invoker, RunningCall
from calibd.pipeline.outbound import Outbound
from calibd.pipeline.outcome import Outcome
from calibd.pipeline.rows import RowBuilder
from calibd.pipeline.waits import WaitScheduler
from calibd.registry import Handler, Registry
from calibd.runtime_config import ConfigVersion, RuntimeConfig
from calibd.store import Completion, PipelineStore
from calibd.transports.base import RawMessage, inbox_raw

__all__ = ["Pipeline"]

log = get_logger("calibd.pipeline")


class Pipeline:
    """Validates, deduplicates and dispatches messages; see `calibd.pipeline`."""

    def __init__(
        self,
        settings: Settings,
        store: PipelineStore,
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
        self.on_fatal: Callable[[BaseException], None] = lambda exc: None
        self.stats: Counter[str] = Counter()
        self.metrics = Metrics()
        self._slots = asyncio.Semaphore(settings.pipeline.max_in_flight)
        self._admitted = 0
        self._room = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._waits_task: asyncio.Task | None = None
        self._timeout_task: asyncio.Task | None = None
        self._follow_task: asyncio.Task | None = None
        self._commit_listener: Callable[[], None] = lambda: None
        p = settings.pipeline
        self._committer = Committer(store, p.commit_batch_max)
        outbound = Outbound(settings.source_uri, sinks)
        self._dead = DeadLettering(self._committer, outbound, p.max_message_bytes)
        self.invoker = Invoker(
            settings=settings,
            runtime=self.runtime,
            pool=self.pool,
            store=store,
            committer=self._committer,
            rows=RowBuilder(settings, outbound),
            dead=self._dead,
            metrics=self.metrics,
            pipeline=self,
        )
        dispatcher = Dispatcher(registry, self.invoker, self._dead)
        self._intake = Intake(
            store=store,
            max_message_bytes=p.max_message_bytes,
            committer=self._committer,
            dead=self._dead,
            dispatcher=dispatcher,
        )
        self._batch = BatchIntake(
            intake=self._intake,
            dispatcher=dispatcher,
            invoker=self.invoker,
            committer=self._committer,
            finish=self._finish,
            account=self._account,
            release=self._release,
        )
        self._waits = WaitScheduler(
            store=store,
            registry=registry,
            invoker=self.invoker,
            committer=self._committer,
            dead=self._dead,
            tasks=self._tasks,
            on_fatal=lambda exc: self.on_fatal(exc),
            lease_s=settings.pipeline.wait_claim_lease_s,
            instance=settings.instance,
        )

    # --- life cycle -----------------------------------------------------------------------

    async def start(self, waits: bool = True) -> None:
        """Load the configuration version from the DB and start the committer and waits."""
        await self.runtime.load(self.store)
        self._committer.start()
        self._committer.on_commit = self._after_commit
        if waits:
            self._waits_task = asyncio.create_task(self._waits.run(), name="calibd-waits")
        self._timeout_task = asyncio.create_task(
            self.invoker.enforce_timeout(), name="calibd-handler-timeout"
        )
        self._follow_task = asyncio.create_task(self._follow_config(), name="calibd-config")

    async def _follow_config(self) -> None:
        """Take in configuration versions other instances record, every
        `pipeline.config_follow_s` (a change made through one instance reaches the others)."""
        while True:
            await asyncio.sleep(self.settings.pipeline.config_follow_s)
            try:
                await self.runtime.follow(self.store)
            except Exception as exc:  # the database is away: the next poll tries again
                log.warning("cannot read the configuration version", error=str(exc))

    def _after_commit(self) -> None:
        self._waits.due.set()
        self._commit_listener()

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
        for task in (self._waits_task, self._timeout_task, self._follow_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.drain()
        await self._committer.stop()
        self.pool.shutdown()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    @property
    def running(self) -> dict[int, RunningCall]:
        """The handler calls running now: id -> (handler name, perf_counter at start, task)."""
        return self.invoker.running

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
        await self._admit(1)
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._track(asyncio.create_task(self._process(raw, done)))
        return done

    async def submit_many(
        self, raws: Sequence[RawMessage]
    ) -> asyncio.Future[list[Outcome | BaseException]]:
        """Start processing a fetched batch (one lookup, one task for the batch and one per
        message's work); waits for room for all of them. The future resolves, once every
        message's result is committed, with each message's Outcome, or the exception that
        left it uncommitted (not to be acknowledged), in the order of `raws`."""
        await self._admit(len(raws))
        done: asyncio.Future[list[Outcome | BaseException]] = (
            asyncio.get_running_loop().create_future()
        )
        self._track(asyncio.create_task(self._process_many(list(raws), done)))
        return done

    async def process(self, raw: RawMessage) -> Outcome:
        """Submit and wait for the outcome."""
        return await (await self.submit(raw))

    async def _admit(self, n: int) -> None:
        for _ in range(n):
            await self._slots.acquire()
            self._admitted += 1

    def _track(self, task: asyncio.Task) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, raw: RawMessage, done: asyncio.Future[Outcome]) -> None:
        result = await self._finish(raw, self._intake.take(raw))
        if done.done():
            return
        if isinstance(result, BaseException):
            done.set_exception(result)
        else:
            done.set_result(result)

    async def _process_many(
        self, raws: list[RawMessage], done: asyncio.Future[list[Outcome | BaseException]]
    ) -> None:
        results = await self._batch.take(raws)
        if not done.done():
            done.set_result(results)

    async def _finish(
        self, raw: RawMessage, work: Coroutine[Any, Any, Outcome]
    ) -> Outcome | BaseException:
        """Await one message's work; its Outcome, or the exception that left it uncommitted."""
        started = time.perf_counter()  # the log context is bound by the work
        try:
            try:
                outcome = await work
            except Exception as exc:
                outcome = await self._after_failure(raw, exc)
        except Exception as exc:  # not committed: the message is NOT acknowledged
            return exc
        finally:
            self._release(1)
        self._account(outcome, started)
        return outcome

    def _account(
        self, outcome: Outcome, started: float, fields: dict[str, Any] | None = None
    ) -> None:
        """Count a committed outcome and log it (`fields`: the message's, when not bound)."""
        self.stats[outcome.status] += 1
        self.metrics.message(outcome.event_type, outcome.status)
        log.info(
            "message processed",
            outcome=outcome.status,
            product_ids=outcome.product_ids,
            reason=outcome.reason,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            **(fields or {}),
        )

    def _release(self, n: int) -> None:
        self._admitted -= n
        for _ in range(n):
            self._slots.release()
        self._room.set()

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
            return await self._dead.record(raw, error, fallback=True)
        except Exception as again:
            if not is_storage_fault(again):
                log.error("dead letter could not be stored", error=repr(again))
                again = StoreError(f"dead letter of {raw.origin} could not be stored: {again}")
            else:
                log.error("message not committed: database fault", error=str(again))
            self.on_fatal(again)
            raise again from exc

    # --- for sources that judge a message before it has an envelope ------------------------

    async def reject(
        self, raw: RawMessage, error: MessageError, key: tuple[str, str] | None = None
    ) -> Outcome:
        """Dead-letter `raw` (e.g. an unparsable trigger file); `key` enters it in the ledger."""
        return await self._dead.record(raw, error, key=key)

    async def record_ignored(self, key: tuple[str, str], transport: str, why: str) -> None:
        """Enter a message calibd does not act on in the ledger, so it is never looked at again."""
        log.info("message ignored", event_source=key[0], event_id=key[1], why=why)
        await self._committer.commit(
            Completion(status="ignored", transport=transport, source=key[0], event_id=key[1])
        )
        self.stats["ignored"] += 1

    async def receive_durably(
        self, transport: str, messages: Sequence[tuple[str, bytes]]
    ) -> list[RawMessage]:
        """Write (origin, payload) pairs to the inbox in one transaction (before the
        transport acknowledges them); their RawMessages, to `submit`."""
        ids = await self.store.add_many_to_inbox(transport, list(messages), self.settings.instance)
        return [
            inbox_raw(inbox_id, transport, origin, payload)
            for inbox_id, (origin, payload) in zip(ids, messages, strict=True)
        ]

    async def hold_lease(self, name: str, lease_s: float) -> bool:
        """Take or renew the named lease for this process (`process_holder`)."""
        return await self.store.hold_lease(name, process_holder(self.settings.instance), lease_s)

    async def already_processed(self, key: tuple[str, str]) -> bool:
        """True when (source, id) is in the ledger."""
        return bool(await self.store.processed([key]))

    # --- reprocessing and reproduction ----------------------------------------------------

    async def reprocess(self, handler: Handler, raw: RawMessage, event: CloudEvent) -> Outcome:
        """Run an archived input again with the Cat-C profile (see calibd.reprocess)."""
        return await self.invoker.run(reprocess_call(handler, raw, event))

    def handler_context(
        self, handler: Handler, version: ConfigVersion, category: str, bound_log: Any
    ) -> CallContext:
        """A context for calling `handler` outside a message (reproduction)."""
        return self.invoker.context(handler, version, category, bound_log)

    # --- waits ----------------------------------------------------------------------------

    def wake_waits(self) -> None:
        self._waits.due.set()

    async def settle(self, passes: int = 10) -> None:
        """Run the waits that are due now, and those their results make due, until none is
        left (at most `passes` rounds): a replay ends with its input, not with the waits loop."""
        for _ in range(passes):
            await self.drain()
            rows = await self._waits.due_now()
            if not rows:
                return
            self._waits.start(rows)
