"""PostgreSQL's errors translated at the backend's edge into the store's (calibd.store.errors),
by SQLSTATE class:

- serialization failures (40001), deadlocks (40P01), lock timeouts (55P03) and statements
  cancelled by their timeout (57014): `StoreBusy`, the write can be tried again;
- data exceptions (class 22: a value out of range, a NUL in text, bad input) and integrity
  violations (class 23: a CHECK, a duplicate key): `StoreValueError`, that message's fault;
- a value the driver cannot encode (wrong type, an integer past its column, a lone
  surrogate): `StoreValueError`;
- the server unreachable (a lost or refused connection, classes 08 and 57P01-57P03: shut
  down, crashed, starting): `StoreUnavailable`, tried again on a new connection;
- anything else (a missing table, the pool closed, a driver misuse): `StoreError`.
"""

from __future__ import annotations

import asyncpg

from calibd.store.errors import (
    StoreBusy,
    StoreError,
    StoreUnavailable,
    StoreValueError,
    translating,
)

__all__ = ["translate", "translated"]

BUSY_STATES = frozenset({"40001", "40P01", "55P03", "57014"})
DOWN_STATES = frozenset({"57P01", "57P02", "57P03"})  # admin shutdown, crash, starting up
VALUE_CLASSES = ("22", "23")


def translate(exc: BaseException) -> Exception | None:
    """The store error for `exc`, or None when it is not the database's nor a value's."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", "") or ""
        if state in BUSY_STATES:
            return StoreBusy(text)
        if state.startswith("08") or state in DOWN_STATES:
            return StoreUnavailable(text)
        if state.startswith(VALUE_CLASSES):
            return StoreValueError(text)
        return StoreError(text)
    if isinstance(exc, ValueError | TypeError | OverflowError):
        return StoreValueError(text)  # asyncpg could not encode a parameter (its DataError)
    if isinstance(exc, ConnectionError | TimeoutError) or (
        isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc)
    ):
        return StoreUnavailable(text)  # refused, reset, timed out; used after it was lost
    if isinstance(exc, asyncpg.InterfaceError | OSError | MemoryError):
        return StoreError(text)  # the connection or the pool, not the values
    return None


translated = translating(translate)
"""Re-raise PostgreSQL's errors (and the values' errors it raises) as the store's."""
