"""What became of a message: the one record every stage returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Outcome", "OutcomeStatus"]

OutcomeStatus = Literal["done", "dead", "duplicate", "ignored", "retrying", "expired", "failed"]


@dataclass
class Outcome:
    """What became of a message (or of a stored wait's hook call)."""

    status: OutcomeStatus
    event_id: str | None = None
    event_type: str | None = None
    product_ids: list[str] = field(default_factory=list)
    reason: str | None = None
    dead_letter_id: int | None = None
