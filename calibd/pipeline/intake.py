"""Intake: size limit, decoding, one message per (source, id) at a time, the ledger lookup.

A message over `pipeline.max_message_bytes` or without a valid envelope is dead-lettered. A
second message with the key of one in flight waits for the first one's commit, then is
looked up in the ledger like any other: a key done before is a duplicate (a no-op), or a
conflicting duplicate (same key, other content: dead letter, the ledger keeps the first).
"""

from __future__ import annotations

import asyncio

import structlog

from calibd import codec
from calibd.committer import Committer
from calibd.errors import PoisonMessage
from calibd.events import CloudEvent
from calibd.logs import get_logger
from calibd.pipeline.dead_lettering import DeadLettering
from calibd.pipeline.dedup import DedupLookup, conflict, digest
from calibd.pipeline.dispatch import Dispatcher
from calibd.pipeline.outcome import Outcome
from calibd.store import Completion, PipelineStore
from calibd.transports.base import RawMessage

__all__ = ["Intake"]

log = get_logger("calibd.pipeline")


class Intake:
    """From the bytes a source received to the dispatch of a new message."""

    def __init__(
        self,
        *,
        store: PipelineStore,
        max_message_bytes: int,
        committer: Committer,
        dead: DeadLettering,
        dispatcher: Dispatcher,
    ) -> None:
        self._max_bytes = max_message_bytes
        self._dedup = DedupLookup(store)
        self._committer = committer
        self._dead = dead
        self._dispatcher = dispatcher
        self._inflight: dict[tuple[str, str], asyncio.Future[Outcome]] = {}

    async def take(self, raw: RawMessage) -> Outcome:
        """The outcome of `raw`; binds the log context of the message (one bind per message)."""
        if len(raw.payload) > self._max_bytes:
            _bind(raw)
            error = PoisonMessage(
                f"message of {len(raw.payload)} bytes exceeds "
                f"pipeline.max_message_bytes={self._max_bytes}",
                reason="too_large",
            )
            return await self._dead.record(raw, error)
        try:
            event = codec.decode(raw.payload, raw.headers)
        except PoisonMessage as exc:
            _bind(raw)
            return await self._dead.record(raw, exc)
        _bind(raw, event)
        key = (event.source, event.id)
        while (first := self._inflight.get(key)) is not None:
            await asyncio.wait([first])  # the same key is being processed: await its commit
        mine: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._inflight[key] = mine
        try:
            content = digest(event)
            seen, known = await self._dedup.seen(key)
            if seen:
                outcome = await self._duplicate(raw, event, content, known)
            else:
                outcome = await self._dispatcher.dispatch(raw, event, content)
            mine.set_result(outcome)
            return outcome
        except BaseException as exc:
            mine.set_exception(exc)
            mine.exception()  # mark retrieved
            raise
        finally:
            del self._inflight[key]

    async def _duplicate(
        self, raw: RawMessage, event: CloudEvent, content: str, known: str | None
    ) -> Outcome:
        clash = conflict(event, content, known)
        if clash is not None:  # the key is in the ledger already: only the dead letter
            return await self._dead.record(raw, clash, event, ledger=False, digest=content)
        log.info("duplicate message skipped")
        if raw.inbox_id is not None:
            await self._committer.commit(
                Completion(status="duplicate", transport=raw.transport, inbox_id=raw.inbox_id)
            )
        return Outcome(status="duplicate", event_id=event.id, event_type=event.type)


def _bind(raw: RawMessage, event: CloudEvent | None = None) -> None:
    if event is None:
        structlog.contextvars.bind_contextvars(transport=raw.transport, origin=raw.origin)
    else:
        structlog.contextvars.bind_contextvars(
            transport=raw.transport,
            origin=raw.origin,
            event_id=event.id,
            event_type=event.type,
            event_source=event.source,
        )
