"""The SQLite backend of the store (aiosqlite, WAL mode)."""

from calibd.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
