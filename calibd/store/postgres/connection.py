"""The pooled connections of a PostgreSQL store, its write transactions and its reads.

Every write runs in one transaction on a connection of the pool (READ COMMITTED). A write
that lost a race to another instance (`ClaimLost`: the ledger key it was about to claim was
committed meanwhile) is rolled back and run again, and then sees the other instance's row.
`lock_timeout` is the busy timeout: a write waiting longer for a lock raises StoreBusy.

A lost connection (the server restarted, a network cut: `StoreUnavailable`) does not stop
the daemon: every write and read is tried again on a new connection of the pool, backing
off from 0.2 s to 5 s, for up to `reconnect_s` (`database.reconnect_s`) from the first
failure; past it the StoreUnavailable is raised (a storage fault: the daemon stops and
systemd starts it again). Writing again is safe: a transaction whose COMMIT was lost with
the connection either did not happen or finds its ledger keys claimed (`ClaimLost`), and
its inputs are then duplicates. The outage is logged once when it starts and once when the
database answers again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Self, TypeVar

import asyncpg

from calibd.errors import StoreError
from calibd.logs import get_logger
from calibd.store.errors import StoreUnavailable
from calibd.store.postgres.errors import translated
from calibd.store.postgres.migrate import check_schema, migrate, schema_version

__all__ = ["ClaimLost", "PostgresConnections"]

T = TypeVar("T")
_ATTEMPTS = 5
_BACKOFF_S = (0.2, 5.0)

log = get_logger("calibd.store")


class ClaimLost(Exception):
    """Another instance committed a key this transaction meant to claim: run it again."""


class PostgresConnections:
    """Opening (migrating, checking), the pool, write transactions and reads."""

    def __init__(
        self,
        dsn: str,
        busy_timeout_ms: int = 10_000,
        *,
        password: str | None = None,
        pool_size: int = 4,
        migrate: bool = True,
        shown: str | None = None,
        reconnect_s: float = 60.0,
    ) -> None:
        self.dsn = dsn
        self.busy_timeout_ms = busy_timeout_ms
        self.password = password
        self.pool_size = pool_size
        self.auto_migrate = migrate
        self.shown = shown or "(postgresql)"
        """The database as errors and logs name it (no credentials)."""
        self.reconnect_s = reconnect_s
        self._pool: asyncpg.Pool | None = None
        self._down_since: float | None = None  # monotonic start of an outage, while it lasts

    async def open(self) -> Self:
        settings = {
            "lock_timeout": f"{max(1, int(self.busy_timeout_ms))}ms",
            "application_name": "calibd",
            "TimeZone": "UTC",
        }
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                password=self.password,
                min_size=1,
                max_size=self.pool_size,
                server_settings=settings,
            )
            async with self._pool.acquire() as conn:
                if self.auto_migrate:
                    await migrate(conn, self.shown)
                else:
                    await check_schema(conn, self.shown)
        except StoreError:
            await self.close()
            raise
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, ValueError) as exc:
            await self.close()
            raise StoreError(
                f"cannot open database {self.shown}: {type(exc).__name__}: {exc}"
            ) from None
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def schema_version(self) -> int:
        async def run() -> int:
            async with self.pool.acquire() as conn:
                return await schema_version(conn)

        return await self._reconnecting(run)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("database is not open")
        return self._pool

    async def _reconnecting(self, op: Callable[[], Awaitable[T]]) -> T:
        """`op()` with the database's errors translated; tried again while the database is
        unavailable, for `reconnect_s` from the first failure (see the module docstring)."""
        delay, first = _BACKOFF_S[0], None
        while True:
            try:
                with translated():
                    result = await op()
            except StoreUnavailable as exc:
                now = time.monotonic()
                first = first or now
                if self._down_since is None:
                    self._down_since = now
                    log.warning(
                        "database unavailable; trying again",
                        database=self.shown,
                        error=str(exc)[:300],
                        reconnect_s=self.reconnect_s,
                    )
                if now - first >= self.reconnect_s or self._pool is None:
                    raise
                await asyncio.sleep(delay)
                delay = min(2 * delay, _BACKOFF_S[1])
                continue
            if self._down_since is not None:
                down, self._down_since = time.monotonic() - self._down_since, None
                log.info("database available again", database=self.shown, after_s=round(down, 1))
            return result

    async def _write(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run `fn(conn, *args)` in one transaction; again when it lost a claim, or on a new
        connection when the database was unavailable."""

        async def transaction() -> T:
            async with self.pool.acquire() as conn, conn.transaction():
                return await fn(conn, *args)

        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return await self._reconnecting(transaction)
            except ClaimLost:
                if attempt == _ATTEMPTS:
                    raise StoreError("a ledger claim was lost again and again") from None
        raise AssertionError("unreachable")

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await self._reconnecting(lambda: self.pool.fetch(sql, *args))

    async def _fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        return await self._reconnecting(lambda: self.pool.fetchrow(sql, *args))

    async def _fetchval(self, sql: str, *args: Sequence[Any] | Any) -> Any:
        return await self._reconnecting(lambda: self.pool.fetchval(sql, *args))
