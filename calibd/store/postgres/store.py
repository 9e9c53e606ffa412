"""The PostgreSQL store: inbox, group commit, ledger, configuration versions, waits, outbox."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from calibd.store.dashboard import DashboardReads
from calibd.store.errors import VersionConflict
from calibd.store.postgres import commit as _commit
from calibd.store.postgres.queries import PostgresQueries, listing
from calibd.store.records import Completion, ConfigVersionRow, DueWait, InboxRow, PendingDelivery
from calibd.store.rows import config_version_row, due_wait, inbox_row, pending_delivery
from calibd.store.sql import (
    DELIVERY_COLUMNS,
    DUE_FOR,
    LEASE,
    ORPHANED_INBOX,
    REQUEUE_REFUSED,
    pending_for,
)

__all__ = ["PostgresStore"]

_DELIVERY = "UPDATE outbox_deliveries d SET attempts = attempts + 1"
_OF_SINK = " FROM unnest($1::text[]) AS e(id) WHERE d.event_id = e.id AND d.sink = $2"


class PostgresStore(DashboardReads, PostgresQueries):
    """Async access to the CalibPipe database in PostgreSQL (see calibd.store.postgres)."""

    async def add_many_to_inbox(
        self, transport: str, messages: Sequence[tuple[str, bytes]], owner: str | None = None
    ) -> list[int]:
        """Durably record several (origin, payload) messages in one transaction; their ids."""

        async def run(conn: asyncpg.Connection) -> list[int]:
            rows = await conn.fetch(
                "INSERT INTO inbox (transport, origin, payload, received_at, owner) "
                "SELECT $1, o, p, now(), $4 FROM unnest($2::text[], $3::bytea[]) "
                "WITH ORDINALITY AS m(o, p, n) ORDER BY n RETURNING id",
                transport,
                [m[0] for m in messages],
                [m[1] for m in messages],
                owner,
            )
            return sorted(r[0] for r in rows)

        return await self._write(run)

    async def inbox(self, transport: str | None = None, owner: str | None = None) -> list[InboxRow]:
        """Inbox rows not yet completed (left by a crash or a stop), oldest first; with
        `owner`, that instance's only."""
        rows = await self._fetch(
            "SELECT * FROM inbox WHERE ($1::text IS NULL OR transport = $1) "
            "AND ($2::text IS NULL OR owner = $2) ORDER BY id",
            transport,
            owner,
        )
        return [inbox_row(r) for r in rows]

    async def adopt_inbox(self, owner: str) -> list[InboxRow]:
        """As the protocol says; rows another instance is adopting now are skipped."""
        old = ORPHANED_INBOX.format(columns="id, owner", owner="$1", now="now()")
        sql = (
            f"WITH old AS ({old} FOR UPDATE SKIP LOCKED) "
            "UPDATE inbox SET owner = $1 FROM old WHERE inbox.id = old.id "
            "RETURNING inbox.id, inbox.transport, inbox.origin, inbox.payload, inbox.headers, "
            "inbox.received_at, old.owner"
        )

        return [inbox_row(r) for r in await self._claimed(sql, "id", owner)]

    async def commit(self, items: Sequence[Completion]) -> None:
        """Write the outcomes of several messages in one transaction (all or nothing)."""
        await self._write(_commit.commit, items)

    async def processed(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """Which of these (source, id) pairs are completed (or parked for a retry), each with
        its recorded content digest (None when not known)."""
        return await self._reconnecting(lambda: _commit.existing_keys(self.pool, keys))

    # --- configuration versions -------------------------------------------------------------

    async def latest_config_version(self) -> ConfigVersionRow | None:
        row = await self._fetchrow("SELECT * FROM config_versions ORDER BY version DESC LIMIT 1")
        return config_version_row(row) if row else None

    async def config_version_of_event(self, event_id: str) -> ConfigVersionRow | None:
        row = await self._fetchrow("SELECT * FROM config_versions WHERE event_id = $1", event_id)
        return config_version_row(row) if row else None

    async def config_version_at(self, when: datetime) -> dict[str, Any] | None:
        row = await self._fetchrow(
            "SELECT * FROM config_versions WHERE created_at <= $1 ORDER BY version DESC LIMIT 1",
            when,
        )
        return listing(row) if row else None

    async def config_versions(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self._fetch(
            "SELECT * FROM config_versions ORDER BY version DESC LIMIT $1", limit
        )
        return [listing(r) for r in rows]

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
        """Record a new version; its number. Versions are serialised by a table lock, so
        their numbers follow their commit order across instances; with `after`, only if
        the latest recorded is that one (VersionConflict otherwise)."""

        async def run(conn: asyncpg.Connection) -> int:
            await conn.execute("LOCK TABLE config_versions IN SHARE ROW EXCLUSIVE MODE")
            if after is not None:
                latest = await conn.fetchval(
                    "SELECT COALESCE(MAX(version), 0) FROM config_versions"
                )
                if latest != after:
                    raise VersionConflict(f"the latest version is no longer {after}")
            return await conn.fetchval(
                "INSERT INTO config_versions (created_at, requested_by, reason, event_id, "
                "changes, overlay, effective, config_hash) "
                "VALUES (now(), $1, $2, $3, $4, $5, $6, $7) RETURNING version",
                requested_by,
                reason,
                event_id,
                json.dumps(changes),
                json.dumps(overlay, sort_keys=True),
                json.dumps(effective, sort_keys=True),
                config_hash,
            )

        return await self._write(run)

    # --- waits ----------------------------------------------------------------------------

    async def due_waits(self, now: datetime, limit: int = 50) -> list[DueWait]:
        """Ready waits and pending ones past their deadline, not before a failed hook's
        next attempt (`retry_at`)."""
        rows = await self._fetch(
            "SELECT * FROM waits "
            "WHERE (status = 'ready' OR (status = 'pending' AND deadline <= $1)) "
            "AND (retry_at IS NULL OR retry_at <= $1) ORDER BY id LIMIT $2",
            now,
            limit,
        )
        return [due_wait(r) for r in rows]

    async def hold_lease(self, name: str, holder: str, lease_s: float) -> bool:
        until = "now() + make_interval(secs => $3)"
        sql = LEASE.format(name="$1", holder="$2", until=until, now="now()")

        async def run(conn: asyncpg.Connection) -> bool:
            return await conn.fetchval(sql, name, holder, float(lease_s)) is not None

        return await self._write(run)

    async def claim_due_waits(
        self, now: datetime, limit: int, holder: str, lease_s: float
    ) -> list[DueWait]:
        """As `claim_deliveries`: the claimable waits locked (others' in-flight claims
        skipped), claimed, returned."""
        pick = DUE_FOR.format(columns="id", now="$1", holder="$2", limit="$3")
        sql = (
            f"WITH picked AS ({pick} FOR UPDATE SKIP LOCKED) "
            "UPDATE waits w SET claimed_by = $2, claimed_until = $1 + make_interval(secs => $4) "
            "FROM picked WHERE w.id = picked.id RETURNING w.*"
        )

        rows = await self._claimed(sql, "id", now, holder, limit, float(lease_s))
        return [due_wait(r) for r in rows]

    async def defer_wait(self, wait_id: int, attempts: int, retry_at: datetime) -> None:
        """Record a failed attempt of a wait's hook; the waits loop skips it until `retry_at`."""

        async def run(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "UPDATE waits SET attempts = $1, retry_at = $2, claimed_by = NULL WHERE id = $3",
                attempts,
                retry_at,
                wait_id,
            )

        await self._write(run)

    async def waits(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self._fetch(
            "SELECT * FROM waits WHERE ($1::text IS NULL OR status = $1) ORDER BY id DESC LIMIT $2",
            status,
            limit,
        )
        return [listing(r) for r in rows]

    # --- outbox ---------------------------------------------------------------------------

    async def pending_deliveries(self, sink: str, limit: int) -> list[PendingDelivery]:
        """Notifications `sink` has still to publish, in commit order."""
        rows = await self._fetch(pending_for("$1", "$2"), sink, limit)
        return [pending_delivery(r) for r in rows]

    async def claim_deliveries(
        self, sink: str, limit: int, holder: str, lease_s: float
    ) -> list[PendingDelivery]:
        """One statement: the claimable rows locked (those another relay is claiming right
        now skipped), claimed, returned."""
        pick = pending_for("$1", "$3", holder="$2", now="now()", columns="d.event_id")
        sql = (
            f"WITH picked AS ({pick} FOR UPDATE OF d SKIP LOCKED) "
            "UPDATE outbox_deliveries d SET claimed_by = $2, "
            "claimed_until = now() + make_interval(secs => $4) "
            "FROM picked, outbox o WHERE d.sink = $1 AND d.event_id = picked.event_id "
            f"AND o.event_id = d.event_id RETURNING {DELIVERY_COLUMNS}"
        )
        rows = await self._claimed(sql, "seq", sink, holder, limit, float(lease_s))
        return [pending_delivery(r) for r in rows]

    async def _claimed(self, sql: str, order: str, *args: Any) -> list[Any]:
        """The rows a claiming `sql` (WITH picked ... FOR UPDATE SKIP LOCKED, UPDATE ...
        RETURNING) returns, in `order` (RETURNING keeps none)."""

        async def run(conn: asyncpg.Connection) -> list[Any]:
            return await conn.fetch(sql, *args)

        return sorted(await self._write(run), key=lambda r: r[order])

    async def _mark(self, sql: str, event_ids: Sequence[str], sink: str, *more: Any) -> None:
        async def run(conn: asyncpg.Connection) -> None:
            await conn.execute(sql, list(event_ids), sink, *more)

        await self._write(run)

    async def mark_delivered(self, sink: str, event_ids: Sequence[str]) -> None:
        await self._mark(_DELIVERY + ", delivered_at = now()" + _OF_SINK, event_ids, sink)

    async def mark_failed(self, sink: str, event_ids: Sequence[str], error: str) -> None:
        """Record a failed attempt; the rows stay pending (the sink was unavailable)."""
        sql = _DELIVERY + ", last_error = $3" + _OF_SINK
        await self._mark(sql, event_ids, sink, error[:1000])

    async def mark_refused(self, sink: str, refused: Sequence[tuple[str, str]]) -> None:
        """Record (event id, reason) rows the sink refuses for good: failed, no longer pending."""
        sql = (
            _DELIVERY + ", last_error = left(r.reason, 1000), failed_at = now() "
            "FROM unnest($1::text[], $3::text[]) AS r(id, reason) "
            "WHERE d.event_id = r.id AND d.sink = $2"
        )
        await self._mark(sql, [e for e, _ in refused], sink, [r for _, r in refused])

    async def requeue_refused(self, sink: str | None = None, event_ids: Sequence[str] = ()) -> int:
        of_ids = "(cardinality($2::text[]) = 0 OR event_id = ANY($2::text[]))"
        sql = REQUEUE_REFUSED.format(sink="$1::text", of_ids=of_ids)

        async def run(conn: asyncpg.Connection) -> int:
            status = await conn.execute(sql, sink, list(event_ids))
            return int(status.split()[-1])  # "UPDATE n"

        return await self._write(run)

    async def outbox_backlog(self) -> dict[str, int]:
        rows = await self._fetch(
            "SELECT sink, COUNT(*) FROM outbox_deliveries "
            "WHERE delivered_at IS NULL AND failed_at IS NULL GROUP BY sink"
        )
        return {r[0]: r[1] for r in rows}
