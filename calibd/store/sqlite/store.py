"""The SQLite store: inbox, group commit, ledger, configuration versions, waits, outbox."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite

from calibd.store.dashboard import DashboardReads
from calibd.store.errors import VersionConflict
from calibd.store.records import (
    Completion,
    ConfigVersionRow,
    DueWait,
    InboxRow,
    PendingDelivery,
)
from calibd.store.rows import config_version_row, due_wait, inbox_row, pending_delivery
from calibd.store.sql import DUE_FOR, LEASE, ORPHANED_INBOX, REQUEUE_REFUSED, pending_for
from calibd.store.sqlite import commit as _commit
from calibd.store.sqlite.queries import SqliteQueries
from calibd.store.sqlite.reads import fetch_all, fetch_one
from calibd.store.times import format_time
from calibd.store.times import now_text as _now

__all__ = ["SqliteStore"]


class SqliteStore(DashboardReads, SqliteQueries):
    """Async access to the CalibPipe database in SQLite.

    `commit` writes a group of finished messages in ONE transaction: each message's ledger
    row, products, provenance, outbox rows and dead letter appear together or not at all (a
    crash loses the whole group, which is then redone from the transports).
    """

    async def add_many_to_inbox(
        self, transport: str, messages: Sequence[tuple[str, bytes]], owner: str | None = None
    ) -> list[int]:
        """Durably record several (origin, payload) messages in one transaction; their ids."""

        async def run(conn: aiosqlite.Connection) -> list[int]:
            now, ids = _now(), []
            for origin, payload in messages:
                cur = await conn.execute(
                    "INSERT INTO inbox (transport, origin, payload, received_at, owner) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (transport, origin, payload, now, owner),
                )
                ids.append(cur.lastrowid)
            return ids

        return await self._write(run)

    async def inbox(self, transport: str | None = None, owner: str | None = None) -> list[InboxRow]:
        """Inbox rows not yet completed (left by a crash or a stop), oldest first; with
        `owner`, that instance's only."""
        sql = (
            "SELECT * FROM inbox WHERE (? IS NULL OR transport = ?) "
            "AND (? IS NULL OR owner = ?) ORDER BY id"
        )
        rows = await fetch_all(self.r, sql, (transport, transport, owner, owner))
        return [inbox_row(r) for r in rows]

    async def adopt_inbox(self, owner: str) -> list[InboxRow]:
        """As the protocol says; read first, one write only when some row is orphaned."""
        sql = ORPHANED_INBOX.format(columns="*", owner="?", now="?")
        rows = await self._claim(
            sql,
            (owner, _now()),
            "UPDATE inbox SET owner = ? WHERE id = ?",
            lambda r, _: (owner, r["id"]),
            datetime.now(UTC),
        )
        return [inbox_row(r) for r in rows]

    async def commit(self, items: Sequence[Completion]) -> None:
        """Write the outcomes of several messages in one transaction (see module docstring)."""
        await self._write(_commit.commit, items)

    async def processed(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """Which of these (source, id) pairs are already completed (or parked for a retry),
        each with its recorded content digest (None when not known)."""
        return await _commit.existing_keys(self.r, keys)

    # --- configuration versions -------------------------------------------------------------

    async def latest_config_version(self) -> ConfigVersionRow | None:
        row = await fetch_one(self.r, "SELECT * FROM config_versions ORDER BY version DESC LIMIT 1")
        return config_version_row(row) if row else None

    async def config_version_of_event(self, event_id: str) -> ConfigVersionRow | None:
        """The version recorded for the configuration change `event_id`, if any."""
        row = await fetch_one(
            self.r, "SELECT * FROM config_versions WHERE event_id = ?", (event_id,)
        )
        return config_version_row(row) if row else None

    async def config_version_at(self, when: datetime) -> dict[str, Any] | None:
        row = await fetch_one(
            self.r,
            "SELECT * FROM config_versions WHERE created_at <= ? ORDER BY version DESC LIMIT 1",
            (format_time(when),),
        )
        return dict(row) if row else None

    async def config_versions(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = await fetch_all(
            self.r, "SELECT * FROM config_versions ORDER BY version DESC LIMIT ?", (limit,)
        )
        return [dict(r) for r in rows]

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
        """Record a new version; its number. With `after`, only if the latest recorded is
        that one (VersionConflict otherwise: the check and the insert are one write)."""

        async def run(conn: aiosqlite.Connection) -> int:
            if after is not None:
                cur = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM config_versions")
                if (await cur.fetchone())[0] != after:  # type: ignore[index]
                    raise VersionConflict(f"the latest version is no longer {after}")
            cur = await conn.execute(
                "INSERT INTO config_versions (created_at, requested_by, reason, event_id, "
                "changes, overlay, effective, config_hash) VALUES (?,?,?,?,?,?,?,?)",
                (
                    _now(),
                    requested_by,
                    reason,
                    event_id,
                    json.dumps(changes),
                    json.dumps(overlay, sort_keys=True),
                    json.dumps(effective, sort_keys=True),
                    config_hash,
                ),
            )
            return cur.lastrowid  # type: ignore[return-value]

        return await self._write(run)

    # --- waits ----------------------------------------------------------------------------

    async def due_waits(self, now: datetime, limit: int = 50) -> list[DueWait]:
        """Waits to act on: ready ones (resolved) and pending ones past their deadline, but
        not before the next attempt of a hook that failed (`retry_at`)."""
        rows = await fetch_all(
            self.r,
            "SELECT * FROM waits "
            "WHERE (status = 'ready' OR (status = 'pending' AND deadline <= ?)) "
            "AND (retry_at IS NULL OR retry_at <= ?) ORDER BY id LIMIT ?",
            (format_time(now), format_time(now), limit),
        )
        return [due_wait(r) for r in rows]

    async def hold_lease(self, name: str, holder: str, lease_s: float) -> bool:
        now = datetime.now(UTC)
        until = format_time(now + timedelta(seconds=lease_s))
        sql = LEASE.format(name="?", holder="?", until="?", now="?")

        async def run(conn: aiosqlite.Connection) -> bool:
            cur = await conn.execute(sql, (name, holder, until, format_time(now)))
            return (await cur.fetchone()) is not None

        return await self._write(run)

    async def claim_due_waits(
        self, now: datetime, limit: int, holder: str, lease_s: float
    ) -> list[DueWait]:
        """As `claim_deliveries`: read first, one write only when something is due."""
        at = format_time(now)
        sql = DUE_FOR.format(columns="*", now="?", holder="?", limit="?")
        rows = await self._claim(
            sql,
            (at, at, holder, at, limit),
            "UPDATE waits SET claimed_by = ?, claimed_until = ? WHERE id = ?",
            lambda r, until: (holder, until, r["id"]),
            now + timedelta(seconds=lease_s),
        )
        return [due_wait(r) for r in rows]

    async def _claim(
        self,
        sql: str,
        args: tuple,
        claim: str,
        params: Callable[[Any, str], tuple],
        until: datetime,
    ) -> list[Any]:
        """The rows of `sql` claimed (`claim` with `params(row, until)` for each): read first
        without the write lock, then read again and claim in one write, only when some row
        may be claimed (the relay and the waits loop poll)."""
        if not await fetch_all(self.r, sql, args):
            return []
        stored_until = format_time(until)

        async def run(conn: aiosqlite.Connection) -> list[Any]:
            rows = await (await conn.execute(sql, args)).fetchall()
            await conn.executemany(claim, [params(r, stored_until) for r in rows])
            return rows

        return await self._write(run)

    async def defer_wait(self, wait_id: int, attempts: int, retry_at: datetime) -> None:
        """Record a failed attempt of a wait's hook; the waits loop skips it until `retry_at`."""

        async def run(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "UPDATE waits SET attempts = ?, retry_at = ?, claimed_by = NULL WHERE id = ?",
                (attempts, format_time(retry_at), wait_id),
            )

        await self._write(run)

    async def waits(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        sql = "SELECT * FROM waits" + (" WHERE status = ?" if status else "")
        rows = await fetch_all(
            self.r, sql + " ORDER BY id DESC LIMIT ?", ([status] if status else []) + [limit]
        )
        return [dict(r) for r in rows]

    # --- outbox ---------------------------------------------------------------------------

    async def pending_deliveries(self, sink: str, limit: int) -> list[PendingDelivery]:
        """Notifications `sink` has still to publish, in commit order."""
        rows = await fetch_all(self.r, pending_for("?", "?"), (sink, limit))
        return [pending_delivery(r) for r in rows]

    async def claim_deliveries(
        self, sink: str, limit: int, holder: str, lease_s: float
    ) -> list[PendingDelivery]:
        """Read what may be claimed without the write lock; claim it in one write (nothing is
        written when nothing is pending: the relay polls)."""
        now = datetime.now(UTC)
        rows = await self._claim(
            pending_for("?", "?", holder="?", now="?"),
            (sink, holder, format_time(now), limit),
            "UPDATE outbox_deliveries SET claimed_by = ?, claimed_until = ? "
            "WHERE event_id = ? AND sink = ?",
            lambda r, until: (holder, until, r["event_id"], sink),
            now + timedelta(seconds=lease_s),
        )
        return [pending_delivery(r) for r in rows]

    async def mark_delivered(self, sink: str, event_ids: Sequence[str]) -> None:
        now = _now()

        async def run(conn: aiosqlite.Connection) -> None:
            await conn.executemany(
                "UPDATE outbox_deliveries SET delivered_at = ?, attempts = attempts + 1 "
                "WHERE event_id = ? AND sink = ?",
                [(now, e, sink) for e in event_ids],
            )

        await self._write(run)

    async def mark_failed(self, sink: str, event_ids: Sequence[str], error: str) -> None:
        """Record a failed attempt; the rows stay pending (the sink was unavailable)."""

        async def run(conn: aiosqlite.Connection) -> None:
            await conn.executemany(
                "UPDATE outbox_deliveries SET attempts = attempts + 1, last_error = ? "
                "WHERE event_id = ? AND sink = ?",
                [(error[:1000], e, sink) for e in event_ids],
            )

        await self._write(run)

    async def mark_refused(self, sink: str, refused: Sequence[tuple[str, str]]) -> None:
        """Record (event id, reason) rows the sink refuses for good: failed, no longer pending."""
        now = _now()

        async def run(conn: aiosqlite.Connection) -> None:
            await conn.executemany(
                "UPDATE outbox_deliveries SET attempts = attempts + 1, last_error = ?, "
                "failed_at = ? WHERE event_id = ? AND sink = ?",
                [(reason[:1000], now, e, sink) for e, reason in refused],
            )

        await self._write(run)

    async def requeue_refused(self, sink: str | None = None, event_ids: Sequence[str] = ()) -> int:
        sql = REQUEUE_REFUSED.format(
            sink="?1", of_ids="(?2 = '[]' OR event_id IN (SELECT value FROM json_each(?2)))"
        )

        async def run(conn: aiosqlite.Connection) -> int:
            cur = await conn.execute(sql, (sink, json.dumps(list(event_ids))))
            return cur.rowcount

        return await self._write(run)

    async def outbox_backlog(self) -> dict[str, int]:
        rows = await fetch_all(
            self.r,
            "SELECT sink, COUNT(*) FROM outbox_deliveries "
            "WHERE delivered_at IS NULL AND failed_at IS NULL GROUP BY sink",
        )
        return {r[0]: r[1] for r in rows}
