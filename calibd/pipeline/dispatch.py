"""Dispatch: the handler registered for the event's type, after the event's own checks."""

from __future__ import annotations

from calibd.errors import BadInput, MessageError, UnknownEventType
from calibd.events import CloudEvent
from calibd.pipeline.calls import Call, message_call
from calibd.pipeline.dead_lettering import DeadLettering
from calibd.pipeline.invoke import Invoker
from calibd.pipeline.outcome import Outcome
from calibd.registry import Registry
from calibd.timerange import check_event_times
from calibd.transports.base import RawMessage

__all__ = ["Dispatcher"]


class Dispatcher:
    """Routes a new (not yet processed) message to its handler, or dead-letters it."""

    def __init__(self, registry: Registry, invoker: Invoker, dead: DeadLettering) -> None:
        self.registry = registry
        self.invoker = invoker
        self.dead = dead

    async def dispatch(self, raw: RawMessage, event: CloudEvent, digest: str) -> Outcome:
        call = self.route(raw, event, digest)
        if isinstance(call, MessageError):
            return await self.dead.record(raw, call, event, digest=digest)
        return await self.invoker.run(call)

    def route(self, raw: RawMessage, event: CloudEvent, digest: str) -> Call | MessageError:
        """The handler call of a new message, or why it cannot have one."""
        handler = self.registry.get(event.type)
        if handler is None:
            return UnknownEventType(f"no handler is registered for {event.type!r}")
        try:
            check_event_times(event)  # a period in year 0001 is bad input, not a crash
        except BadInput as exc:
            return exc
        return message_call(handler, raw, event, digest)
