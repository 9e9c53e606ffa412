"""Bring a database to the current schema: `PRAGMA user_version` holds the applied version.

The migrations are the numbered files `migrations/NNNN_<name>.sql` (package data), applied in
order; migration N leaves the database at version N. Add a file for each change; never edit
one that has shipped. Statements are split at `;` (so no `;` in comments or literals).
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import aiosqlite

from calibd.errors import StoreError

__all__ = ["MIGRATIONS", "load_migrations", "migrate"]

_NAME = re.compile(r"(\d{4})_\w+\.sql")


def load_migrations() -> list[str]:
    """The SQL scripts of the migrations, in order (the first is version 1)."""
    folder = resources.files("calibd.store.sqlite") / "migrations"
    found = sorted(
        (int(m.group(1)), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if (m := _NAME.fullmatch(entry.name))
    )
    numbers = [n for n, _ in found]
    if numbers != list(range(1, len(found) + 1)):
        raise StoreError(f"SQLite migrations are not numbered 1..n: {numbers}")
    return [script for _, script in found]


MIGRATIONS: list[str] = load_migrations()


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
