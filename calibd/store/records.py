"""What callers write to and read from the store, independent of its backend.

Written: ProductRecord, OutboxRecord, DeadLetterRecord inside a Completion (times in their
stored text form, `calibd.store.times`). Read: InboxRow, DueWait, PendingDelivery,
ConfigVersionRow, ReleasedDeadLetter, ReprocessCandidate and InputProduct, frozen, with
datetime fields. Product, dead-letter, wait and version listings stay dicts: they are what
the CLI prints as JSON and what handlers see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from calibd.store.times import now_text

__all__ = [
    "Completion",
    "ConfigVersionRow",
    "DeadLetterRecord",
    "DueWait",
    "InboxRow",
    "InputProduct",
    "OutboxRecord",
    "PendingDelivery",
    "ProductRecord",
    "ReleasedDeadLetter",
    "ReprocessCandidate",
]


@dataclass
class ProductRecord:
    """A product and its provenance, ready to insert."""

    id: str
    product_type: str
    tel_id: int | None
    category: str
    valid_from: str
    valid_to: str | None
    created_at: str
    input_source: str
    input_event_id: str
    algorithm: str
    algorithm_version: str
    config_hash: str
    payload: str
    summary: str
    arrays: bytes | None
    provenance: dict[str, Any]
    config_version: int | None = None
    supersedes: list[str] = field(default_factory=list)
    truncates: list[str] = field(default_factory=list)


@dataclass
class OutboxRecord:
    """A notification to publish after commit, to each of `sinks`."""

    event_id: str
    event_type: str
    channel: str
    envelope: bytes
    sinks: tuple[str, ...]
    subtopic: str | None = None
    key: str | None = None


@dataclass
class DeadLetterRecord:
    origin_key: str
    transport: str
    origin: str
    reason: str
    detail: str
    payload: bytes
    headers: str | None = None
    event_id: str | None = None
    event_type: str | None = None
    event_source: str | None = None
    received_at: str = field(default_factory=now_text)


@dataclass
class Completion:
    """The outcome of one message, written by `Store.commit`.

    status: done (handled; products may be empty), dead (dead-lettered), ignored (recorded so
    it is never looked at again), duplicate (nothing to write but the inbox row to clear).
    `dlq` builds the dead-letter notification once the dead letter's id is known.
    """

    status: str
    transport: str
    source: str | None = None
    event_id: str | None = None
    event_type: str | None = None
    products: list[ProductRecord] = field(default_factory=list)
    outbox: list[OutboxRecord] = field(default_factory=list)
    dead_letter: DeadLetterRecord | None = None
    dlq: Any = None
    inbox_id: int | None = None
    waits: list[dict[str, Any]] = field(default_factory=list)
    """New waits: rows for the waits table (without id, status, created_at)."""
    resolves: list[tuple[str, str, str]] = field(default_factory=list)
    """(kind, key, resolved_by JSON): pending waits that become ready."""
    wait_id: int | None = None
    """Set when this completes a stored wait (resume or expire), with its new status."""
    wait_status: str | None = None
    wait_detail: str | None = None
    digest: str | None = None
    """The event's content digest (`codec.digest`), recorded in the ledger with its key."""
    # filled by commit
    was_duplicate: bool = False
    dead_letter_id: int | None = None

    @property
    def key(self) -> tuple[str, str] | None:
        if self.source is None or self.event_id is None:
            return None
        return (self.source, self.event_id)


@dataclass(frozen=True)
class InboxRow:
    """A message durably received (MQTT) whose outcome is not committed yet."""

    id: int
    transport: str
    origin: str
    payload: bytes
    headers: str | None
    received_at: datetime
    owner: str | None = None
    """The instance that received it (None: written before owners were recorded)."""


@dataclass(frozen=True)
class DueWait:
    """A stored wait to act on: ready (resolved) or past its deadline.

    `state` and `resolved_by` are the JSON text the handler's wait recorded (decoded by the
    waits scheduler, which dead-letters a wait it cannot decode)."""

    id: int
    handler: str
    kind: str
    key: str
    status: str
    deadline: datetime
    created_at: datetime
    event_source: str
    event_id: str
    input_message: bytes
    input_transport: str
    input_origin: str
    state: str
    resolved_by: str | None
    finished_at: datetime | None
    detail: str | None
    attempts: int
    retry_at: datetime | None


@dataclass(frozen=True)
class PendingDelivery:
    """An outbox notification not yet delivered to (nor refused by) one sink."""

    seq: int
    event_id: str
    event_type: str
    channel: str
    subtopic: str | None
    key: str | None
    envelope: bytes


@dataclass(frozen=True)
class ConfigVersionRow:
    """A recorded configuration version (its JSON columns decoded)."""

    version: int
    created_at: datetime
    requested_by: str
    reason: str
    event_id: str | None
    changes: list[dict[str, Any]]
    overlay: dict[str, Any]
    effective: dict[str, Any]
    config_hash: str


@dataclass(frozen=True)
class ReleasedDeadLetter:
    """A dead letter as it was when released for a retry (`release_dead_letter`)."""

    id: int
    origin_key: str
    transport: str
    origin: str
    received_at: datetime
    event_id: str | None
    event_type: str | None
    event_source: str | None
    reason: str
    detail: str
    payload: bytes
    headers: str | None
    """JSON object of the transport headers (text values or null), or None."""


@dataclass(frozen=True)
class ReprocessCandidate:
    """A Cat-A/B product (valid or superseded) whose input may be reprocessed."""

    id: str
    product_type: str
    tel_id: int | None
    category: str
    valid_from: datetime
    input_source: str
    input_event_id: str


@dataclass(frozen=True)
class InputProduct:
    """A product made from a given input event."""

    id: str
    product_type: str
    tel_id: int | None
    category: str
    status: str
