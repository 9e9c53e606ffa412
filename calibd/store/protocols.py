"""What each consumer needs of the store, as typing Protocols (any backend implements them).

ReadStore       products, dead letters, waits, versions, counts: CLI, demo, handlers
PipelineStore   ReadStore + InboxStore + the group commit, dedup, waits, configuration versions,
                reprocessing and dead-letter release: the pipeline and its parts
RelayStore      the outbox: pending deliveries and what became of them
InboxStore      the durable inbox (written for the MQTT source by the pipeline's
                Admission, read back at start) and the ledger lookup
StoreBackend    all of them, with the life cycle: what a backend class provides
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, Self, runtime_checkable

from calibd.store.records import (
    Completion,
    ConfigVersionRow,
    DueWait,
    InboxRow,
    InputProduct,
    PendingDelivery,
    ReleasedDeadLetter,
    ReprocessCandidate,
)

__all__ = ["InboxStore", "PipelineStore", "ReadStore", "RelayStore", "StoreBackend"]

Key = tuple[str, str]
"""An event's (source, id)."""


class ReadStore(Protocol):
    """Queries; product and dead-letter rows are dicts (the CLI prints them as JSON)."""

    async def best_product(
        self, product_type: str, tel_id: int | None, at: datetime
    ) -> dict[str, Any] | None:
        """The product valid at `at`: highest category, then latest start, then newest."""
        ...

    async def products(
        self,
        *,
        product_type: str | None = None,
        tel_id: int | None = None,
        at: datetime | None = None,
        include_superseded: bool = False,
        limit: int = 100,
        as_of: str | None = None,
    ) -> list[dict[str, Any]]: ...

    async def product(self, product_id: str) -> dict[str, Any] | None:
        """One product with payload, arrays and provenance; `product_id` may be a prefix."""
        ...

    async def dead_letters(
        self, limit: int = 100, reason: str | None = None
    ) -> list[dict[str, Any]]: ...

    async def waits(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]: ...

    async def config_versions(self, limit: int = 100) -> list[dict[str, Any]]: ...

    async def config_version_at(self, when: datetime) -> dict[str, Any] | None: ...

    async def counts(self) -> dict[str, int]: ...

    async def outbox_backlog(self) -> dict[str, int]:
        """Pending deliveries per sink."""
        ...

    # --- the dashboard's reads (plain SQL, bounded) ------------------------------------------

    async def product_page(
        self,
        *,
        product_type: str | None = None,
        tel_id: int | None = None,
        category: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        at: datetime | None = None,
        include_superseded: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Product metadata as `products` lists it, with a category filter, validity starting
        in [since, until) and an offset; newest first (best first when `at` is given)."""
        ...

    async def product_counts(self) -> list[dict[str, Any]]:
        """Rows of (product_type, tel_id, status, n, latest): products per type, telescope and
        status, `latest` their latest validity start (all read from one index)."""
        ...

    async def superseded_products(self, product_id: str) -> list[dict[str, Any]]:
        """(id, product_type, tel_id, category, valid_from) of the products `product_id`
        superseded (whose `superseded_by` it is), oldest first; at most 100."""
        ...

    async def claims(self) -> list[dict[str, Any]]:
        """Instances holding claims on open rows: holder, what (outbox, waits, inbox, lease
        <name>), n, until."""
        ...


class InboxStore(Protocol):
    async def add_many_to_inbox(
        self, transport: str, messages: Sequence[tuple[str, bytes]], owner: str | None = None
    ) -> list[int]:
        """Durably record (origin, payload) messages received by instance `owner` in one
        transaction; their ids."""
        ...

    async def inbox(self, transport: str | None = None, owner: str | None = None) -> list[InboxRow]:
        """Rows not completed yet, oldest first; with `owner`: its rows only."""
        ...

    async def adopt_inbox(self, owner: str) -> list[InboxRow]:
        """Make `owner` the owner of every row of another instance whose inbox lease
        (`rules.inbox_lease`) has expired or was never held, and of every row of no owner
        (written before owners were recorded); those rows, oldest first, as they were (their
        `owner` the instance they are taken from, or None). Each row goes to one caller."""
        ...

    async def processed(self, keys: Sequence[Key]) -> dict[Key, str | None]: ...


class PipelineStore(ReadStore, InboxStore, Protocol):
    async def commit(self, items: Sequence[Completion]) -> None:
        """Write the outcomes of several messages in ONE transaction (all or nothing).
        Raises StoreBusy when the database stays locked by another writer."""
        ...

    async def processed(self, keys: Sequence[Key]) -> dict[Key, str | None]:
        """Which keys are completed (or parked for a retry), with their content digest."""
        ...

    async def due_waits(self, now: datetime, limit: int = 50) -> list[DueWait]: ...

    async def hold_lease(self, name: str, holder: str, lease_s: float) -> bool:
        """Take the lease `name` for `holder` for `lease_s`, or renew it; False while another
        holder's lease has not expired."""
        ...

    async def claim_due_waits(
        self, now: datetime, limit: int, holder: str, lease_s: float
    ) -> list[DueWait]:
        """`due_waits` that no other holder's unexpired claim covers, now claimed by `holder`
        for `lease_s` (its own claims it takes again at once; `defer_wait` drops the claim)."""
        ...

    async def defer_wait(self, wait_id: int, attempts: int, retry_at: datetime) -> None: ...

    async def latest_config_version(self) -> ConfigVersionRow | None: ...

    async def config_version_of_event(self, event_id: str) -> ConfigVersionRow | None: ...

    async def add_config_version(
        self,
        *,
        requested_by: str,
        reason: str,
        event_id: str | None,
        changes: list[dict[str, Any]],
        overlay: dict[str, Any],
        effective: dict[str, Any],
        config_hash: str,
        after: int | None = None,
    ) -> int:
        """Record a new version; its number."""
        ...

    async def reprocess_candidates(
        self,
        start: datetime,
        end: datetime,
        product_types: list[str] | None = None,
        tel_ids: list[int] | None = None,
    ) -> list[ReprocessCandidate]: ...

    async def products_of_input(self, source: str, event_id: str) -> list[InputProduct]: ...

    async def release_dead_letter(self, dead_letter_id: int) -> ReleasedDeadLetter:
        """Mark a dead letter retried and forget its ledger entry; its row.
        Raises StoreError if there is none or it was retried already."""
        ...


class RelayStore(Protocol):
    async def pending_deliveries(self, sink: str, limit: int) -> list[PendingDelivery]: ...

    async def claim_deliveries(
        self, sink: str, limit: int, holder: str, lease_s: float
    ) -> list[PendingDelivery]:
        """Pending rows of `sink` that no other holder's unexpired claim covers, in commit
        order, now claimed by `holder` for `lease_s` (its own claims it takes again at once)."""
        ...

    async def mark_delivered(self, sink: str, event_ids: Sequence[str]) -> None: ...

    async def mark_failed(self, sink: str, event_ids: Sequence[str], error: str) -> None:
        """A failed attempt: the rows stay pending."""
        ...

    async def mark_refused(self, sink: str, refused: Sequence[tuple[str, str]]) -> None:
        """(event id, reason) rows the sink refuses for good: failed, no longer pending."""
        ...

    async def outbox_backlog(self) -> dict[str, int]: ...

    async def requeue_refused(self, sink: str | None = None, event_ids: Sequence[str] = ()) -> int:
        """Make the refused deliveries (of `sink`, of `event_ids`; all when not given) pending
        again, their attempts and error cleared (`calibd outbox requeue`); how many."""
        ...


@runtime_checkable
class StoreBackend(PipelineStore, RelayStore, InboxStore, Protocol):
    """A complete store: every consumer's protocol, opened and closed (`isinstance` checks
    that a backend has every method)."""

    async def open(self) -> Self: ...

    async def schema_version(self) -> int:
        """The database's applied schema version (its backend's migrations)."""
        ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...
