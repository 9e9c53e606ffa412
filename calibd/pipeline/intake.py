"""Intake: size limit, decoding, one message per (source, id) at a time, the ledger lookup.

A message over `pipeline.max_message_bytes` or without a valid envelope is dead-lettered. A
second message with the key of one in flight waits for the first one's commit, then is
looked up in the ledger like any other: a key done before is a duplicate (a no-op), or a
conflicting duplicate (same key, other content: dead letter, the ledger keeps the first).
`take` is the path of one message; `calibd.pipeline.batch` takes a fetched batch through
the same steps (`screen`, `hold`, one ledger lookup, `decide`).
"""

from __future__ import annotations

import asyncio
from typing import Any

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

__all__ = ["Intake", "bind_message"]

log = get_logger("calibd.pipeline")

Key = tuple[str, str]


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
        self.store = store
        self._dedup = DedupLookup(store)
        self._committer = committer
        self._dead = dead
        self._dispatcher = dispatcher
        self._inflight: dict[Key, asyncio.Future[Any]] = {}

    async def take(self, raw: RawMessage) -> Outcome:
        """The outcome of `raw`; binds the log context of the message (one bind per message)."""
        event = self.screen(raw)
        if isinstance(event, PoisonMessage):
            return await self.refuse(raw, event)
        bind_message(raw, event)
        key = (event.source, event.id)
        while (first := self._inflight.get(key)) is not None:
            await asyncio.wait([first])  # the same key is being processed: await its commit
        held = self.hold(key)
        try:
            content = digest(event)
            seen, known = await self._dedup.seen(key)
            outcome = await self.decide(raw, event, content, seen, known)
        except BaseException as exc:
            self.release(key, held, exc)
            raise
        self.release(key, held, outcome)
        return outcome

    def screen(self, raw: RawMessage) -> CloudEvent | PoisonMessage:
        """The validated event of `raw`, or why it is refused (too large, not an event)."""
        if len(raw.payload) > self._max_bytes:
            return PoisonMessage(
                f"message of {len(raw.payload)} bytes exceeds "
                f"pipeline.max_message_bytes={self._max_bytes}",
                reason="too_large",
            )
        try:
            return codec.decode(raw.payload, raw.headers)
        except PoisonMessage as exc:
            return exc

    async def refuse(self, raw: RawMessage, error: PoisonMessage) -> Outcome:
        bind_message(raw)
        return await self._dead.record(raw, error)

    def busy(self, key: Key) -> bool:
        """True while a message with this key is in progress."""
        return key in self._inflight

    def hold(self, key: Key) -> asyncio.Future[Any]:
        """Mark `key` in progress: other messages with it wait until `release`."""
        held: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = held
        return held

    def release(self, key: Key, held: asyncio.Future[Any], result: Any) -> None:
        if isinstance(result, BaseException):
            held.set_exception(result)
            held.exception()  # mark retrieved
        else:
            held.set_result(result)
        if self._inflight.get(key) is held:
            del self._inflight[key]

    async def decide(
        self, raw: RawMessage, event: CloudEvent, content: str, seen: bool, known: str | None
    ) -> Outcome:
        """After the ledger lookup: a duplicate, a conflicting one, or a dispatch."""
        if not seen:
            return await self._dispatcher.dispatch(raw, event, content)
        clash = conflict(event, content, known)
        if clash is not None:  # the key is in the ledger already: only the dead letter
            return await self._dead.record(raw, clash, event, ledger=False, digest=content)
        log.info("duplicate message skipped")
        if raw.inbox_id is not None:
            await self._committer.commit(
                Completion(status="duplicate", transport=raw.transport, inbox_id=raw.inbox_id)
            )
        return Outcome(status="duplicate", event_id=event.id, event_type=event.type)


def bind_message(raw: RawMessage, event: CloudEvent | None = None) -> None:
    """Bind the log context of one message (in the task that processes it)."""
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
