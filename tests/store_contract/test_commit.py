"""The group commit: all or nothing; each event's outcome recorded once; the inbox cleared."""

from __future__ import annotations

from datetime import datetime

import pytest

from calibd.store import Completion, StoreBackend, StoreValueError
from tests.store_contract.records import dead, done, ft, notice, product


async def test_the_backend_implements_every_store_protocol(store):
    assert isinstance(store, StoreBackend)


async def test_group_commit_is_all_or_nothing(store: StoreBackend):
    good = done("e1", product("p1", "B", ft("2026-01-01T00:00:00")))
    bad = done("e2", product("p2", "Z", ft("2026-01-01T00:00:00")))  # CHECK fails
    with pytest.raises(StoreValueError):
        await store.commit([good, bad])
    assert await store.processed([("s", "e1"), ("s", "e2")]) == {}
    assert await store.products() == []


async def test_a_failing_item_rolls_back_every_row_of_the_batch(store: StoreBackend):
    (inbox_id,) = await store.add_many_to_inbox("mqtt", [("o", b"m")])
    good = done(
        "e1",
        product("p1", "B", ft("2026-01-01T00:00:00")),
        outbox=[notice("n1")],
        inbox_id=inbox_id,
    )
    letter = dead("e3")
    bad = done("e2", product("p1", "B", ft("2026-01-02T00:00:00")))  # the same product id
    with pytest.raises(StoreValueError):
        await store.commit([good, letter, bad])
    assert await store.processed([("s", "e1"), ("s", "e2"), ("s", "e3")]) == {}
    assert await store.products(include_superseded=True) == []
    assert await store.dead_letters() == []
    assert await store.outbox_backlog() == {}
    assert [r.id for r in await store.inbox()] == [inbox_id]  # still to be processed
    # the same batch without the failing item commits, as a retry would
    await store.commit([good, letter])
    assert set(await store.processed([("s", "e1"), ("s", "e3")])) == {("s", "e1"), ("s", "e3")}
    assert good.was_duplicate is False and letter.dead_letter_id is not None
    assert await store.inbox() == []


async def test_a_completed_event_is_never_committed_twice(store: StoreBackend):
    start = ft("2026-01-01T00:00:00")
    await store.commit([done("e1", product("p1", "B", start))])
    again = done("e1", product("p1-again", "B", start))
    await store.commit([again])
    assert again.was_duplicate
    assert [p["id"] for p in await store.products()] == ["p1"]


async def test_processed_tells_which_events_are_done_with_their_digest(store: StoreBackend):
    await store.commit([done("e1", digest="d1"), done("e2")])
    found = await store.processed([("s", "e1"), ("s", "e2"), ("s", "e3"), ("other", "e1")])
    assert found == {("s", "e1"): "d1", ("s", "e2"): None}
    twice = [done("e4"), done("e4")]  # the same event twice in one batch: recorded once
    await store.commit(twice)
    assert [c.was_duplicate for c in twice] == [False, True]
    assert await store.counts() == {
        "products": 0,
        "processed": 3,
        "dead_letters": 0,
        "inbox": 0,
        "waits_pending": 0,
        "outbox_pending": 0,
        "outbox_failed": 0,
        "waits_overdue": 0,
    }


async def test_many_keys_are_looked_up_at_once(store: StoreBackend):
    await store.commit([done(f"e{i}") for i in range(0, 1000, 3)])
    found = await store.processed([("s", f"e{i}") for i in range(1000)])
    assert set(found) == {("s", f"e{i}") for i in range(0, 1000, 3)}


async def test_a_duplicate_completion_only_clears_its_inbox_row(store: StoreBackend):
    before = datetime.now().astimezone()
    ids = await store.add_many_to_inbox("mqtt", [("a", b"1"), ("b", b"2")])
    rows = await store.inbox()
    assert [(r.id, r.transport, r.origin, r.payload) for r in rows] == [
        (ids[0], "mqtt", "a", b"1"),
        (ids[1], "mqtt", "b", b"2"),
    ]
    assert all(isinstance(r.received_at, datetime) and r.received_at >= before for r in rows)
    assert await store.inbox("kafka") == []
    await store.commit([Completion(status="duplicate", transport="mqtt", inbox_id=ids[0])])
    assert [r.id for r in await store.inbox()] == [ids[1]]
    counts = await store.counts()
    assert (counts["processed"], counts["inbox"]) == (0, 1)


async def test_a_redelivered_dead_letter_is_recorded_once(store: StoreBackend):
    first = dead("e1", origin_key="kafka:t:0:7")
    await store.commit([first])
    again = dead("e1-copy", origin_key="kafka:t:0:7")  # the same origin
    await store.commit([again])
    assert first.dead_letter_id is not None and not first.was_duplicate
    assert again.was_duplicate and again.dead_letter_id is None
    (letter,) = await store.dead_letters()
    assert letter["id"] == first.dead_letter_id and letter["reason"] == "bad_input"


async def test_the_dead_letter_notice_is_built_with_its_id(store: StoreBackend):
    letter = dead("e1")
    letter.dlq = lambda dead_letter_id: notice(f"dlq-{dead_letter_id}", ("kafka",), "dlq")
    await store.commit([letter])
    (row,) = await store.pending_deliveries("kafka", 10)
    assert (row.event_id, row.channel) == (f"dlq-{letter.dead_letter_id}", "dlq")
