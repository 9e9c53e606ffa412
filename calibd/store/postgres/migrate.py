"""Bring a PostgreSQL database to the current schema; `calibd_schema.version` holds the
applied version. Each migration runs in its own transaction under an advisory lock, so
instances starting together migrate once; a database newer than this calibd, or one whose
tables are missing, is refused (StoreError: calibd exits 3)."""

from __future__ import annotations

import asyncpg

from calibd.errors import StoreError
from calibd.store.migrations import load_migrations, newer_schema, older_schema

__all__ = ["MIGRATIONS", "TABLES", "check_schema", "migrate", "schema_version"]

MIGRATIONS: list[str] = load_migrations("calibd.store.postgres")
TABLES = (
    "config_versions",
    "dead_letters",
    "inbox",
    "leases",
    "outbox",
    "outbox_deliveries",
    "processed",
    "products",
    "provenance",
    "waits",
)
_LOCK = 0x63616C6962  # pg_advisory_xact_lock key of calibd's migrations


async def schema_version(conn: asyncpg.Connection) -> int:
    """The applied version (0 for an empty database)."""
    if not await conn.fetchval("SELECT to_regclass('calibd_schema') IS NOT NULL"):
        return 0
    return await conn.fetchval("SELECT coalesce(max(version), 0) FROM calibd_schema")


async def migrate(conn: asyncpg.Connection, where: str) -> int:
    """Apply the migrations past the database's version; the number applied."""
    async with conn.transaction():  # under the lock: CREATE ... IF NOT EXISTS races otherwise
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS calibd_schema (version integer PRIMARY KEY)")
    applied = 0
    for number, script in enumerate(MIGRATIONS, start=1):
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
            version = await schema_version(conn)
            if version > len(MIGRATIONS):
                raise newer_schema(where, version, len(MIGRATIONS))
            if version >= number:
                continue
            await conn.execute(script)
            await conn.execute("INSERT INTO calibd_schema (version) VALUES ($1)", number)
            applied += 1
    await check_schema(conn, where)
    return applied


async def check_schema(conn: asyncpg.Connection, where: str) -> None:
    """Raise StoreError unless the database is at this calibd's version with every table."""
    version = await schema_version(conn)
    if version > len(MIGRATIONS):
        raise newer_schema(where, version, len(MIGRATIONS))
    if version < len(MIGRATIONS):
        raise older_schema(where, version, len(MIGRATIONS))
    present = {
        r[0]
        for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
    }
    if missing := sorted(set(TABLES) - present):
        raise StoreError(f"database {where} is broken: tables missing: {', '.join(missing)}")
