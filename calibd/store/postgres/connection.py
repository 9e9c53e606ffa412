"""The pooled connections of a PostgreSQL store, its write transactions and its reads.

Every write runs in one transaction on a connection of the pool (READ COMMITTED). A write
that lost a race to another instance (`ClaimLost`: the ledger key it was about to claim was
committed meanwhile) is rolled back and run again, and then sees the other instance's row.
`lock_timeout` is the busy timeout: a write waiting longer for a lock raises StoreBusy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Self, TypeVar

import asyncpg

from calibd.errors import StoreError
from calibd.store.postgres.errors import translated
from calibd.store.postgres.migrate import check_schema, migrate, schema_version

__all__ = ["ClaimLost", "PostgresConnections"]

T = TypeVar("T")
_ATTEMPTS = 5


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
    ) -> None:
        self.dsn = dsn
        self.busy_timeout_ms = busy_timeout_ms
        self.password = password
        self.pool_size = pool_size
        self.auto_migrate = migrate
        self.shown = shown or "(postgresql)"
        """The database as errors and logs name it (no credentials)."""
        self._pool: asyncpg.Pool | None = None

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
        with translated():
            async with self.pool.acquire() as conn:
                return await schema_version(conn)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("database is not open")
        return self._pool

    async def _write(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run `fn(conn, *args)` in one transaction; again when it lost a claim."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with translated():
                    async with self.pool.acquire() as conn, conn.transaction():
                        return await fn(conn, *args)
            except ClaimLost:
                if attempt == _ATTEMPTS:
                    raise StoreError("a ledger claim was lost again and again") from None
        raise AssertionError("unreachable")

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        with translated():
            return await self.pool.fetch(sql, *args)

    async def _fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        with translated():
            return await self.pool.fetchrow(sql, *args)

    async def _fetchval(self, sql: str, *args: Sequence[Any] | Any) -> Any:
        with translated():
            return await self.pool.fetchval(sql, *args)
