"""The inbox: rows owned by the instance that received them, recovered by their owner only,
and taken over from an instance whose inbox lease expired."""

from __future__ import annotations

import asyncio

from calibd.store import StoreBackend
from calibd.store.rules import inbox_lease
from tests.store_contract.records import done


async def test_an_instance_recovers_its_own_rows_and_one_takes_the_rows_of_no_owner(
    backend, store: StoreBackend
):
    (a1,) = await store.add_many_to_inbox("mqtt", [("t/a", b"1")], owner="a")
    (b1,) = await store.add_many_to_inbox("mqtt", [("t/b", b"2")], owner="b")
    (legacy,) = await store.add_many_to_inbox("mqtt", [("t/x", b"3")])  # before owners
    assert [r.id for r in await store.inbox(owner="a")] == [a1]
    assert [(r.id, r.owner) for r in await store.inbox(owner="b")] == [(b1, "b")]
    assert [r.id for r in await store.inbox()] == [a1, b1, legacy]
    assert [r.id for r in await store.inbox("kafka", owner="a")] == []
    assert await store.hold_lease(inbox_lease("a"), "a", 60)
    async with backend.make() as other:
        assert await other.hold_lease(inbox_lease("b"), "b", 60)
        taken = await asyncio.gather(store.adopt_inbox("a"), other.adopt_inbox("b"))
    assert sorted((r.id, r.owner) for group in taken for r in group) == [(legacy, None)]
    winner = "a" if taken[0] else "b"
    assert legacy in [r.id for r in await store.inbox(owner=winner)]
    assert await store.adopt_inbox("a") == []


async def test_rows_of_an_instance_whose_lease_expired_are_taken_over_once(
    backend, store: StoreBackend
):
    ids = await store.add_many_to_inbox("mqtt", [("t", b"1"), ("t", b"2")], owner="b")
    (own,) = await store.add_many_to_inbox("mqtt", [("t", b"3")], owner="a")
    assert await store.hold_lease(inbox_lease("b"), "b", 1)
    assert await store.adopt_inbox("a") == []  # b is alive
    await asyncio.sleep(1.2)  # b stopped renewing
    async with backend.make() as other:  # a and c (alive) both try: each row to one of them
        assert await store.hold_lease(inbox_lease("a"), "a", 60)
        assert await other.hold_lease(inbox_lease("c"), "c", 60)
        taken = await asyncio.gather(store.adopt_inbox("a"), other.adopt_inbox("c"))
    rows = [r for group in taken for r in group]
    assert sorted(r.id for r in rows) == ids and {r.owner for r in rows} == {"b"}
    assert [r.payload for r in sorted(rows, key=lambda r: r.id)] == [b"1", b"2"]
    winner = "a" if taken[0] else "c"
    assert [r.id for r in await store.inbox(owner=winner) if r.owner == winner] == (
        sorted([*ids, own]) if winner == "a" else ids
    )
    assert await store.adopt_inbox("a") == [] and await store.adopt_inbox("c") == []


async def test_a_row_whose_owner_never_held_a_lease_is_adopted(store: StoreBackend):
    (row,) = await store.add_many_to_inbox("mqtt", [("t", b"1")], owner="gone")
    assert await store.hold_lease(inbox_lease("a"), "a", 60)
    assert [(r.id, r.owner) for r in await store.adopt_inbox("a")] == [(row, "gone")]
    assert [r.owner for r in await store.inbox(owner="a")] == ["a"]


async def test_a_completed_row_is_neither_recovered_nor_adopted(store: StoreBackend):
    (row,) = await store.add_many_to_inbox("mqtt", [("t", b"1")], owner="b")
    await store.commit([done("e1", inbox_id=row)])
    assert await store.inbox(owner="b") == []
    assert await store.adopt_inbox("a") == []


async def test_claims_list_each_owners_inbox_rows_until_its_lease_ends(store: StoreBackend):
    await store.add_many_to_inbox("mqtt", [("t", b"1"), ("t", b"2")], owner="a")
    await store.add_many_to_inbox("mqtt", [("t", b"3")], owner="gone")
    assert await store.hold_lease(inbox_lease("a"), "a", 60)
    claims = {(c["holder"], c["what"]): c for c in await store.claims()}
    assert claims[("a", "inbox")]["n"] == 2 and claims[("gone", "inbox")]["n"] == 1
    assert claims[("a", "inbox")]["until"] == claims[("a", "lease inbox:a")]["until"]
    assert claims[("gone", "inbox")]["until"] < claims[("a", "inbox")]["until"]  # expired
