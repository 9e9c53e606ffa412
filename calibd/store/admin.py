"""`calibd db migrate` and `calibd db check` for either backend: bring the database to this
calibd's schema, or check it as it is (StoreError, exit 3: newer than this calibd, not
migrated yet, missing, or broken); `calibd db copy`: SQLite into an empty PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from calibd.store.factory import make_store

if TYPE_CHECKING:
    from calibd.config import Settings

__all__ = ["check_database", "copy_database", "migrate_database"]


async def migrate_database(settings: Settings) -> int:
    """Apply the missing migrations; the schema version reached."""
    async with make_store(settings, migrate=True) as store:
        return await store.schema_version()


async def check_database(settings: Settings) -> int:
    """The schema version of a database this calibd can use as it is (no migration)."""
    async with make_store(settings, migrate=False) as store:
        return await store.schema_version()


async def copy_database(settings: Settings, source: Path, target_url: str | None) -> int:
    """Copy the SQLite database `source` into the PostgreSQL database `target_url` (or the
    configured `database.url`); prints each table's rows and checksum. 0 when every table
    verifies, 1 when one does not (nothing is kept: one transaction)."""
    from calibd.errors import ConfigurationError
    from calibd.store.copy import copy_sqlite_to_postgres
    from calibd.store.factory import database_shown
    from calibd.store.sqlite import SqliteStore

    if target_url is not None:
        database = settings.database.model_copy(update={"url": target_url})
        settings = settings.model_copy(update={"database": database})
    if settings.database.url is None:
        raise ConfigurationError("db copy needs a PostgreSQL target: --to URL or database.url")
    if not await asyncio.to_thread(source.is_file):
        raise ConfigurationError(f"db copy --from {source}: no such file")
    async with SqliteStore(source, migrate=False):  # exit 3 unless at this calibd's schema
        pass
    async with make_store(settings, migrate=True) as target:
        tables = await copy_sqlite_to_postgres(source, target)
    for t in tables:
        mark = "ok" if t.ok else f"MISMATCH (target {t.target_rows} rows {t.target_sha256[:16]})"
        print(f"{t.table:<18} {t.source_rows:>9} rows  sha256 {t.source_sha256[:16]}  {mark}")
    ok = all(t.ok for t in tables)
    where = database_shown(settings)
    print(f"copied {source} into {where}" if ok else f"not copied: {where} is unchanged")
    return 0 if ok else 1
