"""SQL both backends run: the category rank, trusted literal lists, the counts, and the
product listing query (with each backend's placeholders and time parameters)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from calibd.store.rules import CATEGORIES, INBOX_LEASE_PREFIX, category_rank

__all__ = [
    "CATEGORY_RANK",
    "COUNTS",
    "DELIVERY_COLUMNS",
    "DUE_FOR",
    "LEASE",
    "LISTED",
    "ORPHANED_INBOX",
    "OVERDUE_WAITS",
    "REQUEUE_REFUSED",
    "Params",
    "listing_order",
    "pending_for",
    "product_filters",
    "products_query",
    "sql_list",
]

CATEGORY_RANK = (  # rules.category_rank in SQL
    "CASE category "
    + " ".join(f"WHEN '{c}' THEN {category_rank(c)}" for c in reversed(CATEGORIES[1:]))
    + " ELSE 1 END"
)


def sql_list(values: Iterable[str]) -> str:
    """An SQL list of (trusted) text literals: ('A', 'B')."""
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


COUNTS = {
    "products": "SELECT COUNT(*) FROM products",
    "processed": "SELECT COUNT(*) FROM processed WHERE status = 'done'",
    "dead_letters": "SELECT COUNT(*) FROM dead_letters WHERE status = 'dead'",
    "inbox": "SELECT COUNT(*) FROM inbox",
    "waits_pending": "SELECT COUNT(*) FROM waits WHERE status IN ('pending', 'ready')",
    "outbox_pending": "SELECT COUNT(*) FROM outbox_deliveries "
    "WHERE delivered_at IS NULL AND failed_at IS NULL",
    "outbox_failed": "SELECT COUNT(*) FROM outbox_deliveries WHERE failed_at IS NOT NULL",
}
"""Row counts an operator wants to see: name -> query of one number."""

OVERDUE_WAITS = "SELECT COUNT(*) FROM waits WHERE status = 'pending' AND deadline < %(now)s"
"""The count `waits_overdue` besides `COUNTS`: pending waits past their deadline at `now`
(each backend puts its parameter in)."""


class Params(list):
    """Query parameters that write their own placeholders: `add(v)` is "?" (SQLite) or "$n"
    (PostgreSQL, `numbered=True`)."""

    def __init__(self, numbered: bool = False) -> None:
        super().__init__()
        self.numbered = numbered

    def add(self, value: Any) -> str:
        self.append(value)
        return f"${len(self)}" if self.numbered else "?"


LISTED = (
    "id, product_type, tel_id, category, valid_from, valid_to, status, superseded_by, "
    "created_at, input_source, input_event_id, algorithm, algorithm_version, config_hash, "
    "config_version, summary"
)
"""The columns of a listed product (its metadata, no arrays)."""


def product_filters(
    p: Params,
    time: Callable[[Any], Any],
    *,
    product_type: str | None = None,
    tel_id: int | None = None,
    category: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    at: datetime | None = None,
) -> list[str]:
    """The WHERE terms of a product listing: the given columns, a validity start in
    [since, until), valid at `at`."""
    where = [
        f"{column} = {p.add(value)}"
        for column, value in (
            ("product_type", product_type),
            ("tel_id", tel_id),
            ("category", category),
        )
        if value is not None
    ]
    if since is not None:
        where.append(f"valid_from >= {p.add(time(since))}")
    if until is not None:
        where.append(f"valid_from < {p.add(time(until))}")
    if at is not None:
        where.append(f"valid_from <= {p.add(time(at))}")
        where.append(f"(valid_to IS NULL OR valid_to > {p.add(time(at))})")
    return where


def listing_order(at: datetime | None, newest: str = "created_at DESC") -> str:
    """Best first (category, then the latest validity start) when valid `at` a time, else
    `newest`."""
    return f"{CATEGORY_RANK} DESC, valid_from DESC, created_at DESC" if at is not None else newest


def products_query(
    p: Params,
    time: Callable[[Any], Any],
    *,
    product_type: str | None,
    tel_id: int | None,
    at: datetime | None,
    include_superseded: bool,
    limit: int,
    as_of: str | None,
) -> str:
    """The product listing (ReadStore.products): metadata without arrays, best first when
    `at` is given, else newest first; `as_of` (a stored time) as the database stood then:
    products created before it, superseded only by products created before it. `time`
    makes a datetime or stored time the backend's parameter."""
    where = product_filters(p, time, product_type=product_type, tel_id=tel_id, at=at)
    if as_of is not None:
        where.append(f"p.created_at < {p.add(time(as_of))}")
        where.append(
            "NOT EXISTS (SELECT 1 FROM products s WHERE s.id = p.superseded_by "
            f"AND s.created_at < {p.add(time(as_of))})"
        )
    elif not include_superseded:
        where.append("status = 'valid'")
    return (
        f"SELECT {LISTED} FROM products p"
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" ORDER BY {listing_order(at)} LIMIT {p.add(limit)}"
    )


DELIVERY_COLUMNS = "o.seq, o.event_id, o.event_type, o.channel, o.subtopic, o.key, o.envelope"
"""The columns of a PendingDelivery."""


def pending_for(
    sink: str,
    limit: str,
    *,
    holder: str | None = None,
    now: str | None = None,
    columns: str = DELIVERY_COLUMNS,
) -> str:
    """The deliveries `sink` has still to publish, in commit order (the arguments are the
    backend's placeholders); with `holder` and `now`, only those it may claim
    (`RelayStore.claim_deliveries`: unclaimed, its own, or their claim expired)."""
    claimable = (
        ""
        if holder is None
        else f"AND (d.claimed_by IS NULL OR d.claimed_by = {holder} OR d.claimed_until < {now}) "
    )
    return (
        f"SELECT {columns} FROM outbox_deliveries d JOIN outbox o ON o.event_id = d.event_id "
        f"WHERE d.sink = {sink} AND d.delivered_at IS NULL AND d.failed_at IS NULL "
        f"{claimable}ORDER BY o.seq LIMIT {limit}"
    )


DUE_FOR = (
    "SELECT {columns} FROM waits "
    "WHERE (status = 'ready' OR (status = 'pending' AND deadline <= {now})) "
    "AND (retry_at IS NULL OR retry_at <= {now}) "
    "AND (claimed_by IS NULL OR claimed_by = {holder} OR claimed_until < {now}) "
    "ORDER BY id LIMIT {limit}"
)
"""The due waits a waits loop may claim (`PipelineStore.claim_due_waits`)."""

REQUEUE_REFUSED = (
    "UPDATE outbox_deliveries SET failed_at = NULL, last_error = NULL, attempts = 0, "
    "claimed_by = NULL, claimed_until = NULL "
    "WHERE failed_at IS NOT NULL AND delivered_at IS NULL AND ({sink} IS NULL OR sink = {sink}) "
    "AND {of_ids}"
)
"""Refused deliveries made pending again (`RelayStore.requeue_refused`); `of_ids`: the
backend's condition on the event ids (all when none is given)."""

ORPHANED_INBOX = (
    "SELECT {columns} FROM inbox WHERE owner IS NULL OR (owner <> {owner} "
    "AND NOT EXISTS (SELECT 1 FROM leases "
    f"WHERE leases.name = '{INBOX_LEASE_PREFIX}' || inbox.owner AND leases.until >= {{now}})) "
    "ORDER BY id"
)
"""Inbox rows of instances whose inbox lease has expired, and rows of no owner (written
before owners were recorded) (`InboxStore.adopt_inbox`)."""

LEASE = (
    "INSERT INTO leases (name, holder, until) VALUES ({name}, {holder}, {until}) "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until "
    "WHERE leases.holder = excluded.holder OR leases.until < {now} RETURNING holder"
)
"""Take or renew a named lease (`PipelineStore.hold_lease`): a row back when it is ours."""
