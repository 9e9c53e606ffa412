"""The CalibPipe database (SQLite through aiosqlite, WAL mode).

One write connection, serialised by an asyncio lock, and one read connection, so queries never
wait for a write transaction. Every query is run and read whole in one call (`fetch_all`), so
it sees everything committed before it started, even while other coroutines query too.

`commit` writes a group of finished messages in ONE transaction: each message's ledger row,
products, provenance, outbox rows and dead letter appear together or not at all (a crash
loses the whole group, which is then redone from the transports).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from calibd.db_reads import fetch_all, fetch_one
from calibd.errors import StoreError
from calibd.migrations import MIGRATIONS

__all__ = [
    "Completion",
    "DeadLetterRecord",
    "OutboxRecord",
    "ProductRecord",
    "Store",
    "format_time",
    "parse_time",
]

CATEGORY_RANK = "CASE category WHEN 'C' THEN 3 WHEN 'B' THEN 2 ELSE 1 END"


def format_time(dt: datetime | None) -> str | None:
    """Sortable UTC text form used in every time column (the year always 4 digits)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def _now() -> str:
    return format_time(datetime.now(UTC))  # type: ignore[return-value]


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
    received_at: str = field(default_factory=_now)


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


class Store:
    """Async access to the CalibPipe database."""

    def __init__(self, path: Path, busy_timeout_ms: int = 10_000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._w: aiosqlite.Connection | None = None
        self._r: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    # --- life cycle -----------------------------------------------------------------------

    async def open(self) -> Store:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._w = await self._connect()
            await self._w.execute("PRAGMA journal_mode=WAL")
            await self._check_integrity()
            await self._migrate()
            self._r = await self._connect()
        except (sqlite3.Error, OSError) as exc:
            await self.close()
            raise StoreError(f"cannot open database {self.path}: {exc}") from None
        except BaseException:
            await self.close()
            raise
        return self

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _check_integrity(self) -> None:
        assert self._w is not None
        async with self._w.execute("PRAGMA quick_check") as cur:
            rows = [r[0] for r in await cur.fetchall()]
        if rows != ["ok"]:
            raise StoreError(f"database {self.path} failed its integrity check: {rows[:5]}")

    async def _migrate(self) -> None:
        assert self._w is not None
        async with self._w.execute("PRAGMA user_version") as cur:
            (version,) = await cur.fetchone()  # type: ignore[misc]
        if version > len(MIGRATIONS):
            raise StoreError(
                f"database {self.path} has schema version {version}, newer than this calibd "
                f"({len(MIGRATIONS)}); upgrade calibd"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await self._w.execute("BEGIN IMMEDIATE")
            try:
                for statement in script.split(";"):
                    if statement.strip():
                        await self._w.execute(statement)
                await self._w.execute(f"PRAGMA user_version={number}")
                await self._w.execute("COMMIT")
            except Exception:
                await self._w.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        for conn in (self._r, self._w):
            if conn is not None:
                await conn.close()
        self._r = self._w = None

    async def __aenter__(self) -> Store:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def w(self) -> aiosqlite.Connection:
        if self._w is None:
            raise StoreError("database is not open")
        return self._w

    @property
    def r(self) -> aiosqlite.Connection:
        if self._r is None:
            raise StoreError("database is not open")
        return self._r

    # --- writes ---------------------------------------------------------------------------

    async def _write(self, fn, *args):
        """Run `fn(conn, *args)` in one IMMEDIATE transaction, serialised with other writes."""
        async with self._lock:
            await self.w.execute("BEGIN IMMEDIATE")
            try:
                result = await fn(self.w, *args)
                await self.w.execute("COMMIT")
                return result
            except BaseException:
                await self.w.execute("ROLLBACK")
                raise

    async def add_many_to_inbox(
        self, transport: str, messages: Sequence[tuple[str, bytes]]
    ) -> list[int]:
        """Durably record several (origin, payload) messages in one transaction; their ids."""

        async def run(conn: aiosqlite.Connection) -> list[int]:
            now, ids = _now(), []
            for origin, payload in messages:
                cur = await conn.execute(
                    "INSERT INTO inbox (transport, origin, payload, received_at) "
                    "VALUES (?, ?, ?, ?)",
                    (transport, origin, payload, now),
                )
                ids.append(cur.lastrowid)
            return ids

        return await self._write(run)

    async def inbox(self, transport: str | None = None) -> list[aiosqlite.Row]:
        """Inbox rows not yet completed (left by a crash or a stop), oldest first."""
        sql = "SELECT * FROM inbox" + (" WHERE transport = ?" if transport else "") + " ORDER BY id"
        return await fetch_all(self.r, sql, (transport,) if transport else ())

    async def commit(self, items: Sequence[Completion]) -> None:
        """Write the outcomes of several messages in one transaction (see module docstring)."""
        await self._write(self._commit, items)

    async def _commit(self, conn: aiosqlite.Connection, items: Sequence[Completion]) -> None:
        for c in items:  # a rolled-back attempt may have set them
            c.was_duplicate, c.dead_letter_id = False, None
        existing = await self._existing_keys(
            conn, [c.key for c in items if c.key], [c.wait_id for c in items if c.wait_id]
        )
        open_waits = await self._open_waits(conn, [c.wait_id for c in items if c.wait_id])
        seen: set[tuple[str, str]] = set()
        products, outbox, ledger, inbox_done = [], [], [], []
        waits, resolves, wait_updates = [], [], []
        now = _now()
        for c in items:
            if c.inbox_id is not None:
                inbox_done.append((c.inbox_id,))
            key = c.key
            if (
                c.status == "duplicate"
                or (key and (key in existing or key in seen))
                or (c.wait_id is not None and c.wait_id not in open_waits)
            ):
                c.was_duplicate = True
                continue
            if c.wait_id is not None:
                open_waits.discard(c.wait_id)
                wait_updates.append((c.wait_status, now, c.wait_detail, c.wait_id))
            waits.extend({**w, "created_at": now} for w in c.waits)
            resolves.extend((r[2], r[0], r[1]) for r in c.resolves)
            if key:
                seen.add(key)
            out = list(c.outbox)
            if c.dead_letter is not None:
                d = c.dead_letter
                cur = await conn.execute(
                    "INSERT OR IGNORE INTO dead_letters (origin_key, transport, origin, "
                    "received_at, event_id, event_type, event_source, reason, detail, payload, "
                    "headers) VALUES (?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                    (
                        d.origin_key,
                        d.transport,
                        d.origin,
                        d.received_at,
                        d.event_id,
                        d.event_type,
                        d.event_source,
                        d.reason,
                        d.detail,
                        d.payload,
                        d.headers,
                    ),
                )
                row = await cur.fetchone()
                if row is None:  # the same origin was dead-lettered before (a redelivery)
                    c.was_duplicate = True
                else:
                    c.dead_letter_id = row[0]
                    if c.dlq is not None:
                        out.append(c.dlq(c.dead_letter_id))
            products.extend(c.products)
            outbox.extend(out)
            if key:
                ledger.append(
                    (
                        key[0],
                        key[1],
                        c.event_type,
                        c.status,
                        c.transport,
                        json.dumps([p.id for p in c.products]),
                        _now(),
                        c.digest,
                    )
                )
        if products:
            await conn.executemany(
                "INSERT INTO products (id, product_type, tel_id, category, valid_from, valid_to, "
                "created_at, input_source, input_event_id, algorithm, algorithm_version, "
                "config_hash, payload, summary, arrays, config_version) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        p.id,
                        p.product_type,
                        p.tel_id,
                        p.category,
                        p.valid_from,
                        p.valid_to,
                        p.created_at,
                        p.input_source,
                        p.input_event_id,
                        p.algorithm,
                        p.algorithm_version,
                        p.config_hash,
                        p.payload,
                        p.summary,
                        p.arrays,
                        p.config_version,
                    )
                    for p in products
                ],
            )
            await conn.executemany(
                "INSERT INTO provenance (product_id, input_message, input_transport, "
                "input_origin, input_files, algorithm, algorithm_version, handler, config, "
                "config_hash, software, host, started_at, finished_at) "
                "VALUES (:product_id, :input_message, :input_transport, :input_origin, "
                ":input_files, :algorithm, :algorithm_version, :handler, :config, :config_hash, "
                ":software, :host, :started_at, :finished_at)",
                [{"product_id": p.id, **p.provenance} for p in products],
            )
        if outbox:
            now = _now()
            await conn.executemany(
                "INSERT INTO outbox (event_id, event_type, channel, subtopic, key, envelope, "
                "created_at) VALUES (?,?,?,?,?,?,?)",
                [
                    (o.event_id, o.event_type, o.channel, o.subtopic, o.key, o.envelope, now)
                    for o in outbox
                ],
            )
            await conn.executemany(
                "INSERT INTO outbox_deliveries (event_id, sink) VALUES (?, ?)",
                [(o.event_id, s) for o in outbox for s in o.sinks],
            )
        if ledger:
            await conn.executemany(
                "INSERT INTO processed (source, event_id, event_type, status, transport, "
                "product_ids, finished_at, digest) VALUES (?,?,?,?,?,?,?,?)",
                ledger,
            )
        if inbox_done:
            await conn.executemany("DELETE FROM inbox WHERE id = ?", inbox_done)
        if products:
            await self._supersede(conn, products)
        if wait_updates:
            await conn.executemany(
                "UPDATE waits SET status = ?, finished_at = ?, detail = ? WHERE id = ?",
                wait_updates,
            )
        if resolves:
            await conn.executemany(
                "UPDATE waits SET status = 'ready', resolved_by = ? "
                "WHERE status = 'pending' AND kind = ? AND key = ?",
                resolves,
            )
        if waits:
            await conn.executemany(
                "INSERT INTO waits (handler, kind, key, status, deadline, created_at, "
                "event_source, event_id, input_message, input_transport, input_origin, state) "
                "VALUES (:handler, :kind, :key, 'pending', :deadline, :created_at, "
                ":event_source, :event_id, :input_message, :input_transport, :input_origin, "
                ":state)",
                waits,
            )
            await self._wake_new_waits(conn, waits)

    @staticmethod
    async def _wake_new_waits(conn: aiosqlite.Connection, waits: list[dict[str, Any]]) -> None:
        """A wait for a product that was committed while its handler was still looking (after
        its `since`) is ready at once: no lost wake-up between the look and the commit."""
        for w in waits:
            if not w["kind"].startswith("product:") or not w.get("since"):
                continue
            tel = w["key"].removeprefix("tel=")
            row = await fetch_one(
                conn,
                "SELECT id FROM products WHERE product_type = ? AND tel_id IS ? "
                "AND created_at >= ? AND status = 'valid' ORDER BY created_at DESC LIMIT 1",
                (
                    w["kind"].removeprefix("product:"),
                    None if tel == "None" else int(tel),
                    w["since"],
                ),
            )
            if row is not None:
                await conn.execute(
                    "UPDATE waits SET status = 'ready', resolved_by = ? WHERE status = 'pending' "
                    "AND kind = ? AND key = ? AND event_id = ? AND event_source = ?",
                    (
                        json.dumps({"product_id": row["id"]}),
                        w["kind"],
                        w["key"],
                        w["event_id"],
                        w["event_source"],
                    ),
                )

    @staticmethod
    async def _supersede(conn: aiosqlite.Connection, new: list[ProductRecord]) -> None:
        """Apply what new products replace (one statement each kind, for the whole group).

        - a product of a higher category supersedes the valid products of the same type and
          telescope with a lower category and the same validity start (a Cat-C product made by
          reprocessing supersedes the Cat-B one);
        - `supersedes`: these products are superseded outright;
        - `truncates`: these products stay valid only until the new product's validity start.
        """
        lower = {"C": "('A', 'B')", "B": "('A')"}
        for category, below in lower.items():
            rows = [
                (p.id, p.product_type, p.tel_id, p.valid_from, p.id)
                for p in new
                if p.category == category
            ]
            if rows:
                await conn.executemany(
                    "UPDATE products SET status = 'superseded', superseded_by = ? "
                    "WHERE product_type = ? AND tel_id IS ? AND status = 'valid' "
                    f"AND valid_from = ? AND category IN {below} AND id != ?",
                    rows,
                )
        outright = [(p.id, old) for p in new for old in p.supersedes]
        if outright:
            await conn.executemany(
                "UPDATE products SET status = 'superseded', superseded_by = ? "
                "WHERE id = ? AND status = 'valid'",
                outright,
            )
        cut = [(p.valid_from, old, p.valid_from, p.valid_from) for p in new for old in p.truncates]
        if cut:
            await conn.executemany(
                "UPDATE products SET valid_to = ? WHERE id = ? "
                "AND (valid_to IS NULL OR valid_to > ?) AND valid_from < ?",
                cut,
            )

    @staticmethod
    async def _open_waits(conn: aiosqlite.Connection, ids: list[int]) -> set[int]:
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        rows = await fetch_all(
            conn,
            f"SELECT id FROM waits WHERE id IN ({marks}) AND status IN ('pending', 'ready')",
            ids,
        )
        return {r[0] for r in rows}

    @staticmethod
    async def _existing_keys(
        conn: aiosqlite.Connection,
        keys: Iterable[tuple[str, str]],
        completing_waits: Sequence[int] = (),
    ) -> dict[tuple[str, str], str | None]:
        """Keys already completed, or with a parked retry (other than `completing_waits`),
        with the content digest recorded for them (None: not known)."""
        keys = list(keys)
        skip = ",".join(str(int(i)) for i in completing_waits) or "-1"
        found: dict[tuple[str, str], str | None] = {}
        for i in range(0, len(keys), 400):
            chunk = keys[i : i + 400]
            where = " OR ".join(["(source = ? AND event_id = ?)"] * len(chunk))
            params = [v for k in chunk for v in k]
            rows = await fetch_all(
                conn, f"SELECT source, event_id, digest FROM processed WHERE {where}", params
            )
            found.update(((r[0], r[1]), r[2]) for r in rows)
            retry_where = where.replace("source = ?", "event_source = ?")
            rows = await fetch_all(
                conn,
                "SELECT event_source, event_id FROM waits WHERE kind = 'retry' "
                f"AND status IN ('pending', 'ready') AND id NOT IN ({skip}) AND ({retry_where})",
                params,
            )  # a message whose retry is parked is not processed again meanwhile
            for r in rows:
                found.setdefault((r[0], r[1]), None)
        return found

    async def processed(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """Which of these (source, id) pairs are already completed (or parked for a retry),
        each with its recorded content digest (None when not known)."""
        return await self._existing_keys(self.r, keys)

    # --- configuration versions -------------------------------------------------------------

    async def latest_config_version(self) -> aiosqlite.Row | None:
        return await fetch_one(
            self.r, "SELECT * FROM config_versions ORDER BY version DESC LIMIT 1"
        )

    async def config_version_of_event(self, event_id: str) -> aiosqlite.Row | None:
        return await fetch_one(
            self.r, "SELECT * FROM config_versions WHERE event_id = ?", (event_id,)
        )

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
    ) -> int:
        async def run(conn: aiosqlite.Connection) -> int:
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

    async def due_waits(self, now: datetime, limit: int = 50) -> list[aiosqlite.Row]:
        """Waits to act on: ready ones (resolved) and pending ones past their deadline, but
        not before the next attempt of a hook that failed (`retry_at`)."""
        return await fetch_all(
            self.r,
            "SELECT * FROM waits "
            "WHERE (status = 'ready' OR (status = 'pending' AND deadline <= ?)) "
            "AND (retry_at IS NULL OR retry_at <= ?) ORDER BY id LIMIT ?",
            (format_time(now), format_time(now), limit),
        )

    async def defer_wait(self, wait_id: int, attempts: int, retry_at: datetime) -> None:
        """Record a failed attempt of a wait's hook; the waits loop skips it until `retry_at`."""

        async def run(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "UPDATE waits SET attempts = ?, retry_at = ? WHERE id = ?",
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

    async def pending_deliveries(self, sink: str, limit: int) -> list[aiosqlite.Row]:
        return await fetch_all(
            self.r,
            "SELECT o.seq, o.event_id, o.event_type, o.channel, o.subtopic, o.key, o.envelope "
            "FROM outbox_deliveries d JOIN outbox o ON o.event_id = d.event_id "
            "WHERE d.sink = ? AND d.delivered_at IS NULL AND d.failed_at IS NULL "
            "ORDER BY o.seq LIMIT ?",
            (sink, limit),
        )

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

    async def outbox_backlog(self) -> dict[str, int]:
        rows = await fetch_all(
            self.r,
            "SELECT sink, COUNT(*) FROM outbox_deliveries "
            "WHERE delivered_at IS NULL AND failed_at IS NULL GROUP BY sink",
        )
        return {r[0]: r[1] for r in rows}

    # --- queries --------------------------------------------------------------------------

    async def best_product(
        self, product_type: str, tel_id: int | None, at: datetime
    ) -> dict[str, Any] | None:
        """The product of `product_type` for `tel_id` valid at `at`: Cat-C before Cat-B before
        Cat-A, then the latest validity start, then the newest."""
        rows = await self.products(product_type=product_type, tel_id=tel_id, at=at, limit=1)
        return rows[0] if rows else None

    async def products(
        self,
        *,
        product_type: str | None = None,
        tel_id: int | None = None,
        at: datetime | None = None,
        include_superseded: bool = False,
        limit: int = 100,
        as_of: str | None = None,
    ) -> list[dict[str, Any]]:
        """Product metadata (no arrays), best first when `at` is given, else newest first.

        `as_of` (a stored time) answers as the database stood then: only products created
        before it, and superseded only by products created before it (for reproduction).
        """
        where, params = [], []
        if product_type is not None:
            where.append("product_type = ?")
            params.append(product_type)
        if tel_id is not None:
            where.append("tel_id = ?")
            params.append(tel_id)
        if at is not None:
            t = format_time(at)
            where.append("valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)")
            params += [t, t]
        if as_of is not None:
            where.append(
                "p.created_at < ? AND NOT EXISTS (SELECT 1 FROM products s "
                "WHERE s.id = p.superseded_by AND s.created_at < ?)"
            )
            params += [as_of, as_of]
        elif not include_superseded:
            where.append("status = 'valid'")
        order = (
            f"{CATEGORY_RANK} DESC, valid_from DESC, created_at DESC"
            if at is not None
            else "created_at DESC"
        )
        sql = (
            "SELECT id, product_type, tel_id, category, valid_from, valid_to, status, "
            "superseded_by, created_at, input_source, input_event_id, algorithm, "
            "algorithm_version, config_hash, config_version, summary FROM products p"
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY {order} LIMIT ?"
        )
        rows = await fetch_all(self.r, sql, [*params, limit])
        return [{**dict(r), "summary": json.loads(r["summary"])} for r in rows]

    async def product(self, product_id: str) -> dict[str, Any] | None:
        """One product with payload, arrays blob and provenance; `product_id` may be a prefix."""
        rows = await fetch_all(
            self.r,
            "SELECT * FROM products WHERE id = ? OR id LIKE ? ORDER BY id = ? DESC LIMIT 2",
            (product_id, product_id.replace("%", "") + "%", product_id),
        )
        if not rows or (len(rows) > 1 and rows[0]["id"] != product_id):
            return None
        prod = dict(rows[0])
        prov = await fetch_one(
            self.r, "SELECT * FROM provenance WHERE product_id = ?", (prod["id"],)
        )
        prod["payload"] = json.loads(prod["payload"])
        prod["summary"] = json.loads(prod["summary"])
        prod["provenance"] = dict(prov) if prov else None
        return prod

    async def reprocess_candidates(
        self,
        start: datetime,
        end: datetime,
        product_types: list[str] | None = None,
        tel_ids: list[int] | None = None,
    ) -> list[dict[str, Any]]:
        """Cat-A/B products (valid or superseded) whose validity starts in [start, end),
        oldest made first."""
        where = ["category IN ('A', 'B')", "valid_from >= ?", "valid_from < ?"]
        params: list[Any] = [format_time(start), format_time(end)]
        for column, values in (("product_type", product_types), ("tel_id", tel_ids)):
            if values:
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                params += list(values)
        rows = await fetch_all(
            self.r,
            "SELECT id, product_type, tel_id, category, valid_from, input_source, input_event_id "
            f"FROM products WHERE {' AND '.join(where)} ORDER BY created_at",
            params,
        )
        return [dict(r) for r in rows]

    async def products_of_input(self, source: str, event_id: str) -> list[dict[str, Any]]:
        rows = await fetch_all(
            self.r,
            "SELECT id, product_type, tel_id, category, status FROM products "
            "WHERE input_source = ? AND input_event_id = ? ORDER BY created_at",
            (source, event_id),
        )
        return [dict(r) for r in rows]

    async def dead_letters(self, limit: int = 100, reason: str | None = None) -> list[dict]:
        sql = "SELECT * FROM dead_letters" + (" WHERE reason = ?" if reason else "")
        rows = await fetch_all(
            self.r, sql + " ORDER BY id DESC LIMIT ?", ([reason] if reason else []) + [limit]
        )
        return [dict(r) for r in rows]

    async def release_dead_letter(self, dead_letter_id: int) -> dict[str, Any]:
        """Mark a dead letter retried and forget its ledger entry, so it can run again.
        Raises StoreError if there is no such dead letter or it was retried already."""

        async def run(conn: aiosqlite.Connection) -> dict[str, Any]:
            row = await fetch_one(
                conn, "SELECT * FROM dead_letters WHERE id = ?", (dead_letter_id,)
            )
            if row is None:
                raise StoreError(f"no dead letter {dead_letter_id}")
            if row["status"] != "dead":
                raise StoreError(f"dead letter {dead_letter_id} was retried already")
            await conn.execute(
                "UPDATE dead_letters SET status = 'retried', retried_at = ? WHERE id = ?",
                (_now(), dead_letter_id),
            )
            if row["event_id"] is not None and row["event_source"] is not None:
                await conn.execute(
                    "DELETE FROM processed WHERE source = ? AND event_id = ? AND status = 'dead'",
                    (row["event_source"], row["event_id"]),
                )
            return dict(row)

        return await self._write(run)

    async def counts(self) -> dict[str, int]:
        """Row counts an operator wants to see."""
        out = {}
        for name, sql in {
            "products": "SELECT COUNT(*) FROM products",
            "processed": "SELECT COUNT(*) FROM processed WHERE status = 'done'",
            "dead_letters": "SELECT COUNT(*) FROM dead_letters WHERE status = 'dead'",
            "inbox": "SELECT COUNT(*) FROM inbox",
            "waits_pending": "SELECT COUNT(*) FROM waits WHERE status IN ('pending', 'ready')",
            "outbox_pending": "SELECT COUNT(*) FROM outbox_deliveries "
            "WHERE delivered_at IS NULL AND failed_at IS NULL",
            "outbox_failed": "SELECT COUNT(*) FROM outbox_deliveries WHERE failed_at IS NOT NULL",
        }.items():
            out[name] = (await fetch_one(self.r, sql))[0]  # type: ignore[index]
        return out
