"""The shape every transport has: what a source hands over, what it may ask, what a sink does.

A transport package (`calibd.transports.kafka`, `.mqtt`, `.acada_triggers`, `.replay`) holds
`source.py` (a `Source`), `sink.py` (a `Sink`, where the transport publishes) and
`options.py` (client options from the settings, where it has a client). A source talks to
calibd only through `Admission` (the pipeline): it never writes the store itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from calibd.errors import MessageError
    from calibd.pipeline.outcome import Outcome

__all__ = [
    "Admission",
    "Delivered",
    "RawMessage",
    "Refused",
    "Sink",
    "Source",
    "describe",
    "inbox_raw",
]


@dataclass
class RawMessage:
    """Bytes as received, with where they came from.

    `origin` is for people (``kafka acada.calibration[2]@1532``); `origin_key` is unique per
    delivery position so a redelivered poison message is dead-lettered only once.
    `inbox_id` is set when the message was first written to the durable inbox (MQTT).
    """

    transport: str
    origin: str
    origin_key: str
    payload: bytes
    headers: Sequence[tuple[str, bytes]] | None = None
    inbox_id: int | None = None


def inbox_raw(inbox_id: int, transport: str, origin: str, payload: bytes) -> RawMessage:
    """The RawMessage of an inbox row (on receipt, or when recovered after a restart).

    Inbox ids are never reused (AUTOINCREMENT), so the id names the delivery."""
    return RawMessage(
        transport=transport,
        origin=origin,
        origin_key=f"{transport}:inbox:{inbox_id}",
        payload=payload,
        inbox_id=inbox_id,
    )


class Admission(Protocol):
    """What a source may ask of calibd (the Pipeline implements it)."""

    @property
    def capacity(self) -> int:
        """How many more messages `submit` takes without waiting."""
        ...

    async def wait_capacity(self, timeout: float) -> bool: ...

    async def submit(self, raw: RawMessage) -> asyncio.Future[Outcome]:
        """Start processing; the future resolves once the outcome is committed."""
        ...

    async def submit_many(
        self, raws: Sequence[RawMessage]
    ) -> asyncio.Future[list[Outcome | BaseException]]:
        """Start processing a batch; the future resolves, once every outcome is committed,
        with each message's Outcome or the exception that left it uncommitted."""
        ...

    async def receive_durably(
        self, transport: str, messages: Sequence[tuple[str, bytes]]
    ) -> list[RawMessage]:
        """Write (origin, payload) pairs to the durable inbox in one transaction, before the
        transport acknowledges them; their RawMessages, to `submit`."""
        ...

    async def already_processed(self, key: tuple[str, str]) -> bool:
        """True when (source, id) is in the ledger."""
        ...

    async def reject(
        self, raw: RawMessage, error: MessageError, *, key: tuple[str, str] | None = None
    ) -> Outcome: ...

    async def record_ignored(self, key: tuple[str, str], transport: str, why: str) -> None: ...

    async def hold_lease(self, name: str, lease_s: float) -> bool:
        """Take or renew the named lease for this instance (one holder at a time among the
        instances sharing the database); False while another instance holds it."""
        ...


class Source(Protocol):
    """Receives messages and submits them to its `Admission`; `run` returns only when
    cancelled, `close` then leaves the broker (committing what is committed)."""

    name: str
    connected: bool

    async def run(self) -> None: ...

    async def close(self) -> None: ...


Delivered = Callable[[str], None]
"""`delivered(event_id)`: the broker confirmed this row."""

Refused = Callable[[str, str], None]
"""`refused(event_id, reason)`: the sink can never take this row (too large, invalid)."""


class Sink(Protocol):
    """Publishes outbox rows. Errors are classified by the sink, with its library's types:

    - permanent, about one row (the broker or client refuses this record, or it cannot be
      addressed): `refused(event_id, reason)`, and the sink goes on with the next rows;
    - transient, about the sink (connection, timeout, authorisation, a retriable broker
      error): the sink calls `delivered` for the rows confirmed before it and raises; the
      relay keeps the rest pending and retries with backoff.
    """

    name: str

    async def publish(
        self, rows: Sequence[Any], delivered: Delivered, refused: Refused
    ) -> None: ...

    async def close(self) -> None: ...


def describe(exc: BaseException) -> str:
    """`Type: message` of an error, for the outbox row and the log."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
