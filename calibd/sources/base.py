"""What every source hands to the pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["RawMessage"]


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
