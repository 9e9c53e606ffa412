"""The waits scheduler: stored waits that became ready or passed their deadline are run
(resume/expire hooks, parked retries), after each commit and at least every second."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from calibd import codec
from calibd.committer import Committer
from calibd.errors import MessageError
from calibd.faults import is_storage_fault
from calibd.ids import process_holder
from calibd.logs import get_logger
from calibd.pipeline.calls import expire_call, resume_call, retry_call
from calibd.pipeline.dead_lettering import DeadLettering
from calibd.pipeline.invoke import Invoker
from calibd.registry import PendingWait, Registry
from calibd.store import Completion, DueWait, PipelineStore
from calibd.transports.base import RawMessage

__all__ = ["WaitScheduler"]

log = get_logger("calibd.pipeline")


def _raw_of(row: DueWait) -> RawMessage:
    """The stored message of a wait, as a RawMessage to run again."""
    return RawMessage(
        transport=row.input_transport,
        origin=row.input_origin,
        origin_key=f"wait:{row.id}",
        payload=row.input_message,
    )


class WaitScheduler:
    """Starts one task per due wait; `tasks` is the pipeline's set of running work."""

    def __init__(
        self,
        *,
        store: PipelineStore,
        registry: Registry,
        invoker: Invoker,
        committer: Committer,
        dead: DeadLettering,
        tasks: set[asyncio.Task],
        on_fatal: Callable[[BaseException], None],
        lease_s: float = 120.0,
        instance: str | None = None,
    ) -> None:
        self.store = store
        self.lease_s = lease_s  # how long a claim on a due wait holds (other instances)
        self.holder = process_holder(instance)
        self.registry = registry
        self.invoker = invoker
        self.committer = committer
        self.dead = dead
        self.tasks = tasks
        self.on_fatal = on_fatal
        self.due = asyncio.Event()
        self._running: set[int] = set()

    async def run(self) -> None:
        """Act on ready and expired waits, after each commit and at least every second; each
        is claimed first, so instances sharing a database act on a wait one at a time."""
        while True:
            try:
                async with asyncio.timeout(1.0):
                    await self.due.wait()
            except TimeoutError:
                pass
            self.due.clear()
            try:
                now = datetime.now(UTC)
                rows = await self.store.claim_due_waits(now, 50, self.holder, self.lease_s)
            except Exception as exc:  # the database went away: the daemon is stopping
                log.error("cannot read waits", error=str(exc))
                continue
            self.start(rows)

    async def due_now(self) -> list[DueWait]:
        """The due waits not already running."""
        rows = await self.store.due_waits(datetime.now(UTC))
        return [r for r in rows if r.id not in self._running]

    def start(self, rows: list[DueWait]) -> None:
        for row in rows:
            if row.id in self._running:
                continue
            self._running.add(row.id)
            task = asyncio.create_task(self._act(row))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _act(self, row: DueWait) -> None:
        try:
            raw = _raw_of(row)
            event = codec.decode(raw.payload)
            structlog.contextvars.bind_contextvars(
                event_id=event.id,
                event_type=event.type,
                event_source=event.source,
                wait_id=row.id,
                transport=raw.transport,
                origin=raw.origin,
            )
            handler = self.registry.by_name(row.handler)
            if row.kind == "retry" and handler is not None:
                attempt = json.loads(row.state)["attempt"]
                outcome = await self.invoker.run(retry_call(handler, raw, event, row.id, attempt))
                log.info(
                    "retry attempt ended",
                    attempt=attempt,
                    outcome=outcome.status,
                    product_ids=outcome.product_ids,
                )
                return
            ready = row.status == "ready"
            hook = None if handler is None else (handler.resume if ready else handler.expire)
            if handler is None or hook is None:
                await self._end_without_result(row, raw, handler is None)
                return
            pending = PendingWait(
                id=row.id,
                kind=row.kind,
                key=row.key,
                state=json.loads(row.state),
                event=event,
                created_at=row.created_at,
                deadline=row.deadline,
                resolved_by=json.loads(row.resolved_by) if row.resolved_by else None,
            )
            make = resume_call if ready else expire_call
            outcome = await self.invoker.run(make(handler, pending, raw, row.attempts))
            log.info(
                "wait ended",
                wait_status="completed" if ready else "expired",
                outcome=outcome.status,
                product_ids=outcome.product_ids,
            )
        except Exception as exc:
            log.error("wait could not be processed", wait_id=row.id, error=repr(exc))
            await self._fail(row, exc)
        finally:
            self._running.discard(row.id)

    async def _end_without_result(self, row: DueWait, raw: RawMessage, unregistered: bool) -> None:
        """A wait whose handler is gone, or that expired without an `expire` hook."""
        status = "failed" if unregistered else "expired"
        detail = (
            f"handler {row.handler!r} is no longer registered"
            if unregistered
            else f"deadline passed waiting for {row.kind} {row.key}"
        )
        log.error("wait ended without a result", status=status, detail=detail)
        await self.committer.commit(
            Completion(
                status=status,
                transport=raw.transport,
                wait_id=row.id,
                wait_status=status,
                wait_detail=detail,
            )
        )

    async def _fail(self, row: DueWait, exc: Exception) -> None:
        """A wait whose processing failed: on a storage fault, stop; otherwise the wait fails
        with a dead letter of its message (rather than being tried again every second)."""
        if is_storage_fault(exc):
            self.on_fatal(exc)
            return
        error = MessageError(f"the wait could not be processed: {exc!r}", reason="wait_failed")
        try:
            await self.dead.record(_raw_of(row), error, wait=(row.id, "failed"), ledger=False)
        except Exception as again:
            log.error("failed wait could not be recorded", wait_id=row.id, error=repr(again))
            if is_storage_fault(again):
                self.on_fatal(again)
