"""A write that waits past the busy timeout for another writer raises StoreBusy."""

from __future__ import annotations

import pytest

from calibd.store import StoreBackend, StoreBusy, StoreError
from tests.store_contract.records import done


async def test_a_held_write_lock_makes_writes_store_busy(store: StoreBackend, backend):
    async with backend.make(busy_timeout_ms=50) as other:
        async with backend.holding_write_lock(store):
            with pytest.raises(StoreBusy) as caught:
                await other.commit([done("e1")])
            assert isinstance(caught.value, StoreError)  # a storage fault if it stays busy
            with pytest.raises(StoreBusy):
                await other.add_many_to_inbox("mqtt", [("o", b"m")])
            assert await other.processed([("s", "e1")]) == {}  # reads go on
        await other.commit([done("e1")])  # the lock released: the same write succeeds
        assert set(await store.processed([("s", "e1")])) == {("s", "e1")}
