"""The sink interface of the outbox relay."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

__all__ = ["Sink"]


class Sink(Protocol):
    """Publishes outbox rows; calls `delivered(event_id)` for each row the broker confirmed,
    in order, and raises on the first failure (the relay retries the rest)."""

    name: str

    async def publish(self, rows: Sequence[Any], delivered: Callable[[str], None]) -> None: ...

    async def close(self) -> None: ...
