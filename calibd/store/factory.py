"""The one place a store is made from the settings: PostgreSQL when `database.url` is set,
else SQLite at `database.path` (the default). The daemon, the CLI and calibd.testing open
their stores here."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from calibd.redact import redacted_url
from calibd.store.protocols import StoreBackend

if TYPE_CHECKING:
    from calibd.config import Settings

__all__ = ["database_shown", "make_store", "postgres_dsn"]


def postgres_dsn(settings: Settings) -> str:
    """`database.url` with the TLS settings added to its query (libpq's names, which
    asyncpg reads: sslmode, sslrootcert, sslcert, sslkey)."""
    db = settings.database
    assert db.url is not None
    extra = {
        name: str(value)
        for name in ("sslmode", "sslrootcert", "sslcert", "sslkey")
        if (value := getattr(db, name)) is not None
    }
    if not extra:
        return db.url
    joiner = "&" if urlsplit(db.url).query else "?"
    return db.url + joiner + urlencode(extra)


def database_shown(settings: Settings) -> str:
    """The database as logs and messages name it: the SQLite path, or the URL without its
    password."""
    if settings.database.url is None:
        return str(settings.database_path)
    return redacted_url(settings.database.url)


def make_store(settings: Settings, *, migrate: bool = True) -> StoreBackend:
    """The store of these settings, not yet open (`async with make_store(s) as store`).
    `migrate=False`: the database is only checked on open, not migrated (nor created)."""
    db = settings.database
    if db.url is None:
        from calibd.store.sqlite import SqliteStore

        return SqliteStore(settings.database_path, db.busy_timeout_ms, migrate=migrate)
    from calibd.config import SecretFile
    from calibd.store.postgres import PostgresStore

    password = SecretFile(path=db.password_file).read() if db.password_file else None
    return PostgresStore(
        postgres_dsn(settings),
        db.busy_timeout_ms,
        password=password,
        pool_size=db.pool_size,
        migrate=migrate,
        reconnect_s=db.reconnect_s,
        shown=database_shown(settings),
    )
