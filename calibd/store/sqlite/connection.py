"""The SQLite connections of a store: one writer serialised by an asyncio lock, one reader.

WAL mode, so queries never wait for a write transaction. Every query is run and read whole in
one call (`reads.fetch_all`), so it sees everything committed before it started, even while
other coroutines query too.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Self, TypeVar

import aiosqlite

from calibd.store.errors import StoreError
from calibd.store.sqlite.errors import translated
from calibd.store.sqlite.migrate import check_version, migrate, schema_version

__all__ = ["SqliteConnections"]

T = TypeVar("T")


class SqliteConnections:
    """Opening, checking and migrating the database file; the write transaction."""

    def __init__(self, path: Path, busy_timeout_ms: int = 10_000, *, migrate: bool = True) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.auto_migrate = migrate
        """False: open only a database at this calibd's schema version (`calibd db check`)."""
        self._w: aiosqlite.Connection | None = None
        self._r: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> Self:
        if not self.auto_migrate and not self.path.is_file():
            raise StoreError(f"database {self.path} does not exist: run `calibd db migrate`")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._w = await self._connect()
            await self._w.execute("PRAGMA journal_mode=WAL")
            await self._check_integrity()
            if self.auto_migrate:
                await migrate(self._w, self.path)
            else:
                await check_version(self._w, self.path)
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

    async def close(self) -> None:
        for conn in (self._r, self._w):
            if conn is not None:
                await conn.close()
        self._r = self._w = None

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def schema_version(self) -> int:
        return await schema_version(self.w)

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

    async def _write(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run `fn(conn, *args)` in one IMMEDIATE transaction, serialised with other writes.
        SQLite's errors become the store's (calibd.store.sqlite.errors): StoreBusy when another
        writer holds the database past the busy timeout."""
        async with self._lock:
            with translated():
                await self.w.execute("BEGIN IMMEDIATE")
                try:
                    result = await fn(self.w, *args)
                    await self.w.execute("COMMIT")
                    return result
                except BaseException:
                    await self.w.execute("ROLLBACK")
                    raise
