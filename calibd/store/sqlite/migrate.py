"""Bring a database to the current schema: `PRAGMA user_version` holds the applied version.

The migrations are the numbered files of calibd.store.migrations, applied in order.
Statements are split at `;` (so no `;` in comments or literals).
"""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from calibd.store.migrations import load_migrations, newer_schema, older_schema

__all__ = ["MIGRATIONS", "check_version", "migrate", "schema_version"]

MIGRATIONS: list[str] = load_migrations("calibd.store.sqlite")


async def schema_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cur:
        (version,) = await cur.fetchone()  # type: ignore[misc]
    return version


async def check_version(conn: aiosqlite.Connection, path: Path) -> None:
    """Raise StoreError unless the database is at this calibd's version."""
    version = await schema_version(conn)
    if version > len(MIGRATIONS):
        raise newer_schema(str(path), version, len(MIGRATIONS))
    if version < len(MIGRATIONS):
        raise older_schema(str(path), version, len(MIGRATIONS))


async def migrate(conn: aiosqlite.Connection, path: Path) -> None:
    """Apply the migrations past the database's version, each in its own transaction.
    Raises StoreError for a database newer than this calibd."""
    version = await schema_version(conn)
    if version > len(MIGRATIONS):
        raise newer_schema(str(path), version, len(MIGRATIONS))
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in script.split(";"):
                if statement.strip():
                    await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version={number}")
            await conn.execute("COMMIT")
        except Exception:
            await conn.execute("ROLLBACK")
            raise
