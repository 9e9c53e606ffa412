"""`calibd db migrate` and `calibd db check` for either backend: bring the database to this
calibd's schema, or check it as it is (StoreError, exit 3: newer than this calibd, not
migrated yet, missing, or broken)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from calibd.store.factory import make_store

if TYPE_CHECKING:
    from calibd.config import Settings

__all__ = ["check_database", "migrate_database"]


async def migrate_database(settings: Settings) -> int:
    """Apply the missing migrations; the schema version reached."""
    async with make_store(settings, migrate=True) as store:
        return await store.schema_version()


async def check_database(settings: Settings) -> int:
    """The schema version of a database this calibd can use as it is (no migration)."""
    async with make_store(settings, migrate=False) as store:
        return await store.schema_version()
