"""The committer retries a group the database was too busy to take, and only that."""

from __future__ import annotations

import sqlite3

import pytest

from calibd.committer import Committer
from calibd.errors import StoreError
from calibd.faults import Unstorable
from calibd.store import Completion, StoreBusy


class FlakyStore:
    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def commit(self, items) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)


def completion() -> Completion:
    return Completion(status="ignored", transport="t", source="s", event_id="e")


async def test_a_busy_database_is_retried_then_the_group_is_committed():
    store = FlakyStore(StoreBusy("database is locked"), StoreBusy("database is locked"))
    committer = Committer(store, batch_max=10)  # type: ignore[arg-type]
    committer.start()
    try:
        await committer.commit(completion())
    finally:
        await committer.stop()
    assert store.calls == 3


async def test_a_database_busy_past_every_attempt_is_a_storage_fault():
    store = FlakyStore(*(StoreBusy("database is locked") for _ in range(5)))
    committer = Committer(store, batch_max=10)  # type: ignore[arg-type]
    committer.start()
    try:
        with pytest.raises(StoreError, match="database write failed: database is locked"):
            await committer.commit(completion())
    finally:
        await committer.stop()
    assert store.calls == 5


async def test_other_errors_are_not_retried():
    store = FlakyStore(sqlite3.IntegrityError("CHECK constraint failed"))
    committer = Committer(store, batch_max=10)  # type: ignore[arg-type]
    committer.start()
    try:
        with pytest.raises(Unstorable, match="IntegrityError"):
            await committer.commit(completion())
    finally:
        await committer.stop()
    assert store.calls == 1
