"""The `store` fixture, parametrised over the store backends, and each backend's hooks.

A backend entry knows how to make a store on a fresh database (`make`, more than once on the
same database) and how to hold the write lock from another store (for StoreBusy). SQLite: a
file under the test's tmp_path; PostgreSQL: a new database of the session's private cluster
(the `postgres` fixture, tests/support/postgres.py). Everything
else the tests do goes through the protocols, errors included (StoreValueError, StoreBusy).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from calibd.store import SqliteStore, StoreBackend
from calibd.store.postgres import PostgresStore
from calibd.store.postgres.migrate import TABLES


class SqliteBackend:
    name = "sqlite"

    def __init__(self, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.path = tmp_path / "calibd.sqlite"

    def make(self, busy_timeout_ms: int = 10_000) -> StoreBackend:
        return SqliteStore(self.path, busy_timeout_ms)

    @asynccontextmanager
    async def holding_write_lock(self, store: StoreBackend) -> AsyncIterator[None]:
        assert isinstance(store, SqliteStore)
        await store.w.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            await store.w.execute("ROLLBACK")


class PostgresBackend:
    """A fresh database of the session's private cluster for each test."""

    name = "postgres"

    def __init__(self, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        cluster = request.getfixturevalue("postgres")
        self.url = cluster.url(cluster.create_database("contract"))

    def make(self, busy_timeout_ms: int = 10_000) -> StoreBackend:
        return PostgresStore(self.url, busy_timeout_ms)

    @asynccontextmanager
    async def holding_write_lock(self, store: StoreBackend) -> AsyncIterator[None]:
        """Every table locked EXCLUSIVE from another connection: reads go on, writes wait."""
        assert isinstance(store, PostgresStore)
        async with store.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"LOCK TABLE {', '.join(TABLES)} IN EXCLUSIVE MODE")
            yield


BACKENDS = {"sqlite": SqliteBackend, "postgres": PostgresBackend}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request, tmp_path):
    return BACKENDS[request.param](tmp_path, request)


@pytest.fixture
async def store(backend) -> AsyncIterator[StoreBackend]:
    async with backend.make() as opened:
        yield opened
