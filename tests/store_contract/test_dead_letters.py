"""Dead letters: recorded with the message's bytes, released once for a retry."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from calibd.store import StoreBackend, StoreError
from tests.store_contract.records import dead, done


async def test_a_dead_letter_is_listed_with_its_message(store: StoreBackend):
    letter = dead("e1")
    await store.commit([letter, dead("e2")])
    assert await store.processed([("s", "e1")]) == {("s", "e1"): None}
    rows = await store.dead_letters()
    assert [r["event_id"] for r in rows] == ["e2", "e1"]  # newest first
    row = rows[1]
    assert row["id"] == letter.dead_letter_id
    assert (row["reason"], row["detail"], row["status"]) == ("bad_input", "no such file", "dead")
    assert bytes(row["payload"]) == b"payload of e1"
    assert json.loads(row["headers"]) == {"h": "v"}
    assert await store.dead_letters(reason="other") == []
    assert len(await store.dead_letters(limit=1)) == 1
    assert (await store.counts())["dead_letters"] == 2


async def test_release_dead_letter_forgets_its_ledger_entry_once(store: StoreBackend):
    letter = dead("e1")
    await store.commit([letter, done("e2")])
    row = await store.release_dead_letter(letter.dead_letter_id)  # type: ignore[arg-type]
    assert (row.id, row.transport, row.origin, row.reason) == (
        letter.dead_letter_id,
        "t",
        "o",
        "bad_input",
    )
    assert (row.event_source, row.event_id, row.origin_key) == ("s", "e1", "t:e1")
    assert row.payload == b"payload of e1" and json.loads(row.headers) == {"h": "v"}
    assert isinstance(row.received_at, datetime)
    assert await store.processed([("s", "e1"), ("s", "e2")]) == {("s", "e2"): None}
    (listed,) = await store.dead_letters()
    assert listed["status"] == "retried" and listed["retried_at"] is not None
    assert (await store.counts())["dead_letters"] == 0
    with pytest.raises(StoreError, match="retried already"):
        await store.release_dead_letter(letter.dead_letter_id)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="no dead letter 999"):
        await store.release_dead_letter(999)
    # the retry of the released event is recorded like a new one
    again = done("e1")
    await store.commit([again])
    assert not again.was_duplicate


async def test_releasing_a_dead_letter_keeps_a_done_ledger_entry(store: StoreBackend):
    """Only the dead outcome is forgotten: an event done since stays done."""
    letter = dead("e1", origin_key="t:first")
    await store.commit([letter])
    await store.release_dead_letter(letter.dead_letter_id)  # type: ignore[arg-type]
    await store.commit([done("e1", digest="d")])
    other = dead("e1", origin_key="t:second")
    other.status = "dead"
    await store.commit([other])  # a copy of the done event: a duplicate, no dead letter
    assert other.was_duplicate and other.dead_letter_id is None
    assert await store.processed([("s", "e1")]) == {("s", "e1"): "d"}
