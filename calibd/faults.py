"""Which failures stop the daemon: storage faults, told apart from faults of one message.

At the commit boundary a write can fail because the database is unusable (disk full or
failing, file corrupt or read-only, closed): then calibd stops without acknowledging anything
more. Or because of what one message (or its handler's result) contains: a value SQLite
cannot bind (a string with a lone surrogate, an integer past 64 bits), a constraint it
breaks, a bug in building the rows. Then only that message fails, and it is dead-lettered.
"""

from __future__ import annotations

import sqlite3

from calibd.errors import StoreError

__all__ = ["Unstorable", "is_storage_fault"]

#: sqlite3 errors that come from the values written, not from the database file
_VALUE_ERRORS = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError)


class Unstorable(Exception):
    """The outcome of one message could not be written for a reason of its own (not a
    storage fault); the message is dead-lettered with this detail instead."""


def is_storage_fault(exc: BaseException) -> bool:
    """True when `exc` means the database cannot be used (so the daemon must stop)."""
    if isinstance(exc, StoreError | OSError | MemoryError):
        return True
    if isinstance(exc, sqlite3.ProgrammingError | ValueError):
        # binding errors are the values' fault; a closed connection (sqlite3's wording, or
        # aiosqlite's "no active connection" / "Connection closed") is the database's
        text = str(exc).lower()
        return "closed" in text or "no active connection" in text
    return isinstance(exc, sqlite3.Error) and not isinstance(exc, _VALUE_ERRORS)
