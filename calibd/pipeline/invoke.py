"""Running one `Call`: the handler under a timeout (`enforce_timeout`), then its result
committed, a retry parked, or a dead letter — the exception policy of calibd in one place.

    HandlerResult     -> the rows of one transaction (calibd.pipeline.rows)
    PoisonMessage     -> dead letter with the error's reason
    RetriableError    -> parked as a retry (or the wait hook deferred) with backoff;
                         dead letter once `pipeline.retry_attempts` retries are spent
    anything else     -> dead letter `handler_failed` with the end of the traceback
"""

from __future__ import annotations

import asyncio
import json
import time
import traceback
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from calibd.backoff import backoff_delay
from calibd.committer import Committer
from calibd.config import Settings
from calibd.errors import MessageError, PoisonMessage, RetriableError
from calibd.executor import CpuPool
from calibd.logs import get_logger
from calibd.metrics import Metrics
from calibd.pipeline.calls import Call
from calibd.pipeline.context import CallContext
from calibd.pipeline.dead_lettering import DeadLettering
from calibd.pipeline.outcome import Outcome
from calibd.pipeline.rows import RowBuilder, wait_row
from calibd.registry import Handler, HandlerResult
from calibd.runtime_config import ConfigVersion, RuntimeConfig
from calibd.store import Completion, PipelineStore

__all__ = ["Invoker", "RunningCall"]

log = get_logger("calibd.pipeline")


class RunningCall(NamedTuple):
    """A handler call running now: its handler, perf_counter at start and task."""

    handler: str
    started: float
    task: asyncio.Task | None


class Invoker:
    """Runs calls and records how they end."""

    def __init__(
        self,
        *,
        settings: Settings,
        runtime: RuntimeConfig,
        pool: CpuPool,
        store: PipelineStore,
        committer: Committer,
        rows: RowBuilder,
        dead: DeadLettering,
        metrics: Metrics,
        pipeline: Any,
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.pool = pool
        self.store = store
        self.committer = committer
        self.rows = rows
        self.dead = dead
        self.metrics = metrics
        self.pipeline = pipeline
        self.running: dict[int, RunningCall] = {}  # id(ctx) -> the call
        self._timed_out: set[int] = set()

    def context(
        self,
        handler: Handler,
        version: ConfigVersion,
        category: str,
        bound_log: Any = log,
        log_fields: dict[str, Any] | None = None,
    ) -> CallContext:
        """The context of one call of `handler` under configuration `version`."""
        return CallContext(
            handler=handler,
            version=version,
            category=category,
            settings=self.settings,
            pool=self.pool,
            store=self.store,
            log=bound_log,
            log_fields=log_fields,
            runtime=self.runtime,
            pipeline=self.pipeline,
        )

    async def run(self, call: Call) -> Outcome:
        """Call `call.hook(call.arg, ctx)` once; commit, park a retry, or dead-letter."""
        ctx, started_at = self.prepare(call)
        try:
            result = await self.call(call, ctx)
            completion = self.completion(call, ctx, result, started_at)
        except Exception as exc:
            return await self.failed(call, exc, ctx)
        await self.committer.commit(completion)
        return self.outcome(call, completion)

    def prepare(self, call: Call) -> tuple[CallContext, datetime]:
        """The call's context (under the configuration version current now) and start time."""
        version = self.runtime.current  # one version for the whole call
        fields = {"handler": call.handler.name, "config_version": version.version}
        category = call.category or version.default_category
        return self.context(call.handler, version, category, log, fields), datetime.now(UTC)

    def completion(
        self, call: Call, ctx: CallContext, result: HandlerResult, started_at: datetime
    ) -> Completion:
        """The rows of a successful call; raises BadInput/TypeError on an invalid result."""
        raw, event = call.raw, call.event
        completion = self.rows.completion(raw, event, ctx, result, started_at, call.digest)
        if not call.ledger:
            completion.source = completion.event_id = None  # the message is in the ledger
        if call.wait is not None:
            completion.wait_id, completion.wait_status = call.wait
        return completion

    @staticmethod
    def outcome(call: Call, completion: Completion) -> Outcome:
        """The Outcome of a committed successful call."""
        dup = completion.was_duplicate
        return Outcome(
            status="duplicate" if dup else completion.status,  # type: ignore[arg-type]
            event_id=call.event.id,
            event_type=call.event.type,
            product_ids=[] if dup else [p.id for p in completion.products],
        )

    async def failed(self, call: Call, exc: Exception, ctx: CallContext) -> Outcome:
        """The exception policy: a dead letter, a parked retry or a deferred wait hook."""
        if isinstance(exc, PoisonMessage):
            return await self._dead(call, exc)
        if isinstance(exc, RetriableError):
            if call.attempt > self.settings.pipeline.retry_attempts:
                hook = "wait hook, " if call.on_retriable == "defer" else ""
                exc.detail = f"{exc.detail} ({hook}after {call.attempt} attempts)"
                return await self._dead(call, exc)
            if call.on_retriable == "defer":
                return await self._defer(call, exc, ctx.log)
            return await self._park(call, exc, ctx.log)
        summary = "".join(traceback.format_exception(exc, limit=-3)).strip()
        err = MessageError(f"{type(exc).__name__}: {exc}\n{summary}", reason="handler_failed")
        return await self._dead(call, err)

    async def call(self, call: Call, ctx: CallContext) -> HandlerResult:
        """The handler's result (watched by `enforce_timeout`)."""
        name = call.handler.name
        t0 = time.perf_counter()
        ident = id(ctx)
        task = asyncio.current_task()
        self.running[ident] = RunningCall(name, t0, task)
        try:
            result = await call.hook(call.arg, ctx)
        except asyncio.CancelledError:
            if ident not in self._timed_out or task is None:
                raise  # a shutdown, not the timeout
            task.uncancel()
            self.pool.terminate()  # stop the computation; other callers retry
            limit = self.settings.pipeline.handler_timeout_s
            raise RetriableError(f"handler ran past pipeline.handler_timeout_s={limit}") from None
        finally:
            del self.running[ident]
            if ident in self._timed_out:  # the timeout came as the call ended: forget it
                self._timed_out.discard(ident)
                if task is not None and task.cancelling():
                    task.uncancel()
            self.metrics.handler(name, time.perf_counter() - t0)
        if not isinstance(result, HandlerResult):
            raise TypeError(f"handler {name} returned {type(result).__name__}, not HandlerResult")
        return result

    async def enforce_timeout(self) -> None:
        """Cancel each handler call that runs past `pipeline.handler_timeout_s` (one timer
        for all calls, checked at a tenth of the limit, at most every second); the call
        ends as a RetriableError. Runs until cancelled; returns at once without a limit."""
        limit = self.settings.pipeline.handler_timeout_s
        if limit is None:
            return
        while True:
            await asyncio.sleep(min(1.0, limit / 10))
            now = time.perf_counter()
            for ident, running in list(self.running.items()):
                late = now - running.started > limit
                if late and ident not in self._timed_out and running.task is not None:
                    self._timed_out.add(ident)
                    running.task.cancel()

    def _dead(self, call: Call, error: MessageError):
        return self.dead.record(
            call.raw, error, call.event, wait=call.wait, ledger=call.ledger, digest=call.digest
        )

    def _delay(self, attempt: int) -> float:
        p = self.settings.pipeline
        return backoff_delay(attempt, p.retry_backoff_s, p.retry_max_backoff_s)

    async def _defer(self, call: Call, error: RetriableError, bound: Any) -> Outcome:
        """A wait hook failed retriably: its wait stays open, tried again after a backoff."""
        assert call.wait is not None
        delay = self._delay(call.attempt)
        retry_at = datetime.now(UTC) + timedelta(seconds=delay)
        await self.store.defer_wait(call.wait[0], call.attempt, retry_at)
        bound.warning(
            "wait hook failed, tried again later",
            error=error.detail,
            attempt=call.attempt,
            next_attempt_in_s=round(delay, 2),
        )
        return Outcome(status="retrying", event_id=call.event.id, event_type=call.event.type)

    async def _park(self, call: Call, error: RetriableError, bound: Any) -> Outcome:
        """Store a `retry` wait with the next attempt's number and time, committed like any
        outcome: the transport is acknowledged and nothing waits in memory."""
        delay = self._delay(call.attempt)
        bound.warning(
            "retriable failure, retry parked",
            error=error.detail,
            attempt=call.attempt,
            next_attempt_in_s=round(delay, 2),
        )
        event, raw = call.event, call.raw
        deadline = datetime.now(UTC) + timedelta(seconds=delay)
        row = wait_row(
            raw, event, call.handler.name, "retry", f"{event.source}|{event.id}", deadline
        )
        row["state"] = json.dumps({"attempt": call.attempt + 1, "last_error": error.detail})
        completion = Completion(
            status="retrying", transport=raw.transport, inbox_id=raw.inbox_id, waits=[row]
        )
        if call.wait is not None:
            completion.wait_id, completion.wait_status = call.wait[0], "completed"
            completion.wait_detail = f"attempt {call.attempt} failed: {error.detail}"[:2000]
        await self.committer.commit(completion)
        return Outcome(
            status="retrying", event_id=event.id, event_type=event.type, reason=error.reason
        )
