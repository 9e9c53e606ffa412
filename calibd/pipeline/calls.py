"""The five situations a handler is called in, each as one constructor of a `Call`.

    message    a new message: the handler's main function, entered in the ledger
    retry      a parked retry of a message that failed with a RetriableError
    resume     a stored wait became ready: the handler's `resume` hook
    expire     a stored wait passed its deadline: the handler's `expire` hook
    reprocess  an archived input run again with the Cat-C profile (not a new ledger entry)

A `Call` says what ends a stored wait and what a RetriableError does: a message (or its
retry, or a reprocessing) is parked as a `retry` wait; a failing wait hook leaves its wait
open and is tried again later (`defer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from calibd.events import CloudEvent
from calibd.pipeline.dead_lettering import WaitEnd
from calibd.registry import Handler, PendingWait
from calibd.store.rules import REPROCESSED, Category
from calibd.transports.base import RawMessage

__all__ = [
    "Call",
    "Situation",
    "expire_call",
    "message_call",
    "reprocess_call",
    "resume_call",
    "retry_call",
]

Situation = Literal["message", "retry", "resume", "expire", "reprocess"]


@dataclass(frozen=True)
class Call:
    """One call of `hook(arg, ctx)` and how each way it ends is recorded."""

    situation: Situation
    handler: Handler
    hook: Any
    arg: Any
    raw: RawMessage
    event: CloudEvent
    wait: WaitEnd | None = None
    """The stored wait this call ends, and its status when the call succeeds."""
    category: Category | None = None
    """The configuration profile; None: the configured default category."""
    ledger: bool = True
    """False: the message is in the ledger already (wait hooks, reprocessing)."""
    attempt: int = 1
    digest: str | None = None

    @property
    def on_retriable(self) -> Literal["park", "defer"]:
        return "defer" if self.situation in ("resume", "expire") else "park"


def message_call(handler: Handler, raw: RawMessage, event: CloudEvent, digest: str) -> Call:
    return Call("message", handler, handler.fn, event, raw, event, digest=digest)


def retry_call(
    handler: Handler, raw: RawMessage, event: CloudEvent, wait_id: int, attempt: int
) -> Call:
    wait = (wait_id, "completed")
    return Call("retry", handler, handler.fn, event, raw, event, wait=wait, attempt=attempt)


def resume_call(handler: Handler, pending: PendingWait, raw: RawMessage, attempts: int) -> Call:
    return _wait_hook_call("resume", handler, pending, raw, attempts)


def expire_call(handler: Handler, pending: PendingWait, raw: RawMessage, attempts: int) -> Call:
    return _wait_hook_call("expire", handler, pending, raw, attempts)


def _wait_hook_call(
    kind: Literal["resume", "expire"],
    handler: Handler,
    pending: PendingWait,
    raw: RawMessage,
    attempts: int,
) -> Call:
    hook = handler.resume if kind == "resume" else handler.expire
    status = "completed" if kind == "resume" else "expired"
    return Call(
        kind,
        handler,
        hook,
        pending,
        raw,
        pending.event,
        wait=(pending.id, status),
        ledger=False,
        attempt=attempts + 1,
    )


def reprocess_call(handler: Handler, raw: RawMessage, event: CloudEvent) -> Call:
    return Call(
        "reprocess", handler, handler.fn, event, raw, event, category=REPROCESSED, ledger=False
    )
