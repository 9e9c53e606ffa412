"""Waits: woken by the product they wait for, due at their deadline, deferred, completed once."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

from calibd.store import Completion, DueWait, StoreBackend
from calibd.store.rules import product_wait_key
from tests.store_contract.records import done, ft, later, now, product, t, wait

PEDESTAL = product_wait_key("pedestal", 3)


def pedestal(pid: str, created: str = "1"):
    return product(
        pid, "B", ft("2026-03-01T00:00:00"), product_type="pedestal", tel_id=3, created=created
    )


async def test_a_committed_product_wakes_the_wait_for_it(store: StoreBackend):
    deadline = later(3600)
    await store.commit([done("e1", waits=[wait("e1", *PEDESTAL, deadline)])])
    assert await store.due_waits(now()) == []
    (pending,) = await store.waits()
    assert pending["status"] == "pending"
    resolves = [(*PEDESTAL, json.dumps({"product_id": "p1"}))]
    await store.commit([done("e2", pedestal("p1"), resolves=resolves)])
    (due,) = await store.due_waits(now())
    assert isinstance(due, DueWait)
    assert (due.id, due.status, due.kind, due.key) == (pending["id"], "ready", *PEDESTAL)
    assert json.loads(due.resolved_by) == {"product_id": "p1"}
    assert due.deadline == deadline
    assert isinstance(due.created_at, datetime) and due.created_at <= now()
    assert (due.event_source, due.event_id, due.input_message) == ("s", "e1", b"{}")
    assert (due.handler, json.loads(due.state), due.attempts, due.retry_at) == (
        "h",
        {"n": 1},
        0,
        None,
    )
    assert (due.finished_at, due.detail) == (None, None)


async def test_a_product_committed_while_the_handler_looked_wakes_the_wait_at_once(
    store: StoreBackend,
):
    await store.commit([done("e0", pedestal("p0", created=ft("2026-03-01T00:00:05")))])
    early = wait("e1", *PEDESTAL, later(3600), since=t("2026-03-01T00:00:00"))
    late = wait("e2", *PEDESTAL, later(3600), since=t("2026-03-01T00:00:10"))
    await store.commit([done("e1", waits=[early]), done("e2", waits=[late])])
    (due,) = await store.due_waits(now())
    assert (due.event_id, due.status, json.loads(due.resolved_by)) == (
        "e1",
        "ready",
        {"product_id": "p0"},
    )


async def test_a_wait_past_its_deadline_is_due_unless_deferred(store: StoreBackend):
    await store.commit([done("e1", waits=[wait("e1", "reply", "r1", t("2026-01-01T00:00:00"))])])
    (due,) = await store.due_waits(now())
    assert (due.status, due.attempts) == ("pending", 0)
    await store.defer_wait(due.id, 1, later(3600))
    assert await store.due_waits(now()) == []
    assert [w.id for w in await store.due_waits(later(7200))] == [due.id]
    await store.defer_wait(due.id, 2, t("2026-01-01T00:00:00"))
    (again,) = await store.due_waits(now())
    assert again.attempts == 2 and again.retry_at == t("2026-01-01T00:00:00")


async def test_pending_waits_past_their_deadline_count_as_overdue(store: StoreBackend):
    past = wait("e1", "reply", "r1", t("2026-01-01T00:00:00"))
    future = wait("e2", "reply", "r2", later(3600))
    await store.commit([done("e1", waits=[past]), done("e2", waits=[future])])
    counts = await store.counts()
    assert (counts["waits_pending"], counts["waits_overdue"]) == (2, 1)
    (due,) = await store.due_waits(now())
    await store.commit([done("e3", wait_id=due.id, wait_status="expired", wait_detail="late")])
    assert (await store.counts())["waits_overdue"] == 0


async def test_completing_a_wait_is_recorded_once(store: StoreBackend):
    await store.commit([done("e1", waits=[wait("e1", "reply", "r1", t("2026-01-01T00:00:00"))])])
    (due,) = await store.due_waits(now())

    def ending() -> Completion:
        return Completion(
            status="done",
            transport="t",
            wait_id=due.id,
            wait_status="expired",
            wait_detail="deadline passed",
        )

    first, second = ending(), ending()
    await store.commit([first])
    await store.commit([second])
    assert (first.was_duplicate, second.was_duplicate) == (False, True)
    assert await store.due_waits(now()) == []
    (row,) = await store.waits()
    assert (row["status"], row["detail"]) == ("expired", "deadline passed")
    assert await store.waits("pending") == []


async def test_an_event_parked_for_a_retry_counts_as_processed_until_its_retry_ends(
    store: StoreBackend,
):
    parked = wait("e9", "retry", "s/e9", t("2026-01-01T00:00:00"))
    parked["state"] = json.dumps({"attempt": 1})
    await store.commit([Completion(status="done", transport="t", waits=[parked])])
    assert await store.processed([("s", "e9")]) == {("s", "e9"): None}
    assert (await store.counts())["waits_pending"] == 1
    (due,) = await store.due_waits(now())
    retried = done("e9", wait_id=due.id, wait_status="completed", digest="d9")
    await store.commit([retried])
    assert not retried.was_duplicate
    assert await store.processed([("s", "e9")]) == {("s", "e9"): "d9"}
    assert (await store.counts())["waits_pending"] == 0


async def test_due_waits_are_claimed_by_one_holder_until_the_claim_expires(
    backend, store: StoreBackend
):
    past = later(-1)
    await store.commit(
        [done(f"e{i}", waits=[wait(f"e{i}", "fram_down", f"k{i}", past)]) for i in range(5)]
    )
    async with backend.make() as other:
        mine = await store.claim_due_waits(now(), 3, "loop-a", 60)
        theirs = await other.claim_due_waits(now(), 10, "loop-b", 60)
        assert len(mine) == 3 and len(theirs) == 2
        assert {w.id for w in mine}.isdisjoint(w.id for w in theirs)
        assert [w.id for w in await store.claim_due_waits(now(), 10, "loop-a", 60)] == [
            w.id for w in mine
        ]  # its own again, nothing of the other's
        assert len(await store.due_waits(now())) == 5  # the plain read sees every due wait
        # a deferred wait is free again (when its retry comes); an expired claim is too
        await store.defer_wait(mine[0].id, 1, later(-1))
        assert mine[0].id in {w.id for w in await other.claim_due_waits(now(), 10, "loop-b", 60)}
        await store.claim_due_waits(now(), 10, "loop-a", 1)
        await asyncio.sleep(1.2)
        taken = {w.id for w in await other.claim_due_waits(now(), 10, "loop-b", 60)}
        assert taken == {w.id for w in mine + theirs}
        # a completed wait is never claimed again
        first = mine[1]
        completes = Completion(
            status="done", transport="test", wait_id=first.id, wait_status="completed"
        )
        await store.commit([completes])
        assert first.id not in {w.id for w in await other.claim_due_waits(now(), 10, "loop-b", 60)}
