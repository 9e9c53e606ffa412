"""The sink interface of the outbox relay, and how a sink reports what it could not publish."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from calibd.store.records import PendingDelivery

__all__ = ["Delivered", "Refused", "Sink", "describe"]

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
        self, rows: Sequence[PendingDelivery], delivered: Delivered, refused: Refused
    ) -> None: ...

    async def close(self) -> None: ...


def describe(exc: BaseException) -> str:
    """`Type: message` of an error, for the outbox row and the log."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
