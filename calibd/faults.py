"""Which failures stop the daemon: storage faults, told apart from faults of one message.

At the commit boundary a write can fail because the database is unusable (disk full or
failing, file corrupt or read-only, closed): the backend raises a `StoreError`, and calibd
stops without acknowledging anything more. Or because of what one message (or its handler's
result) contains: a value the backend cannot bind, a constraint it breaks (`StoreValueError`),
a bug in building the rows. Then only that message fails, and it is dead-lettered. Each
backend translates its driver's errors at its edge (calibd.store.sqlite.errors,
calibd.store.postgres.errors); this module knows no backend.
"""

from __future__ import annotations

from calibd.errors import StoreError

__all__ = ["Unstorable", "is_storage_fault"]


class Unstorable(Exception):
    """The outcome of one message could not be written for a reason of its own (not a
    storage fault); the message is dead-lettered with this detail instead."""


def is_storage_fault(exc: BaseException) -> bool:
    """True when `exc` means the database cannot be used (so the daemon must stop)."""
    return isinstance(exc, StoreError | OSError | MemoryError)
