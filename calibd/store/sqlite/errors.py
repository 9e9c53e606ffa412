"""SQLite's errors translated at the backend's edge into the store's own (calibd.store.errors).

A write or read can fail because the database cannot be used (disk full or failing, file
corrupt or read-only, connection closed): `StoreError`, and calibd stops. Because another
writer holds the lock past the busy timeout: `StoreBusy`. Or because of the values one message
would write (a string with a lone surrogate, an integer past 64 bits, a broken constraint):
`StoreValueError`, and only that message is dead-lettered.
"""

from __future__ import annotations

import sqlite3

from calibd.store.errors import StoreBusy, StoreError, StoreValueError, translating

__all__ = ["is_busy", "translate", "translated"]

#: sqlite3 errors that come from the values written, not from the database file
_VALUE_ERRORS = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError)


def is_busy(exc: BaseException) -> bool:
    """True for SQLite's "database is locked" (SQLITE_BUSY / SQLITE_LOCKED)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return True
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text


def translate(exc: BaseException) -> Exception | None:
    """The store error for `exc`, or None when it is not the database's nor a value's."""
    text = f"{type(exc).__name__}: {exc}"
    if is_busy(exc):
        return StoreBusy(str(exc))
    if isinstance(exc, OSError | MemoryError):
        return StoreError(text)
    if isinstance(exc, sqlite3.ProgrammingError | ValueError):
        # binding errors are the values' fault; a closed connection (sqlite3's wording, or
        # aiosqlite's "no active connection" / "Connection closed") is the database's
        lowered = str(exc).lower()
        closed = "closed" in lowered or "no active connection" in lowered
        return StoreError(text) if closed else StoreValueError(text)
    if isinstance(exc, (*_VALUE_ERRORS, OverflowError)):
        return StoreValueError(text)
    if isinstance(exc, sqlite3.Error):
        return StoreError(text)
    return None


translated = translating(translate)
"""Re-raise SQLite's errors (and the values' errors it raises) as the store's."""
