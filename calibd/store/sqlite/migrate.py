"""Bring a database to the current schema: `PRAGMA user_version` holds the applied version."""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from calibd.errors import StoreError
from calibd.migrations import MIGRATIONS

__all__ = ["migrate"]


async def migrate(conn: aiosqlite.Connection, path: Path) -> None:
    """Apply the migrations past the database's version, each in its own transaction.
    Raises StoreError for a database newer than this calibd."""
    async with conn.execute("PRAGMA user_version") as cur:
        (version,) = await cur.fetchone()  # type: ignore[misc]
    if version > len(MIGRATIONS):
        raise StoreError(
            f"database {path} has schema version {version}, newer than this calibd "
            f"({len(MIGRATIONS)}); upgrade calibd"
        )
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
