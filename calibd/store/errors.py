"""The errors of the store, the same for every backend."""

from __future__ import annotations

from calibd.errors import StoreError

__all__ = ["StoreBusy", "StoreError", "StoreValueError"]


class StoreBusy(StoreError):
    """Another writer held the database past the busy timeout; the write can be tried again.
    A StoreError, so a write that stays busy is a storage fault (`calibd.faults`)."""


class StoreValueError(Exception):
    """The values one message would write cannot be stored (a value the backend cannot bind,
    a broken constraint): that message's fault, not the database's; it is dead-lettered."""
