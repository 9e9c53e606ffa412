"""The errors of the store, the same for every backend."""

from __future__ import annotations

from calibd.errors import StoreError

__all__ = ["StoreBusy", "StoreError"]


class StoreBusy(StoreError):
    """Another writer held the database past the busy timeout; the write can be tried again.
    A StoreError, so a write that stays busy is a storage fault (`calibd.faults`)."""
