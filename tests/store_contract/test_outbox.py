"""The outbox: committed notifications pending per sink until delivered or refused."""

from __future__ import annotations

import asyncio
import json

from calibd.store import PendingDelivery, StoreBackend
from tests.store_contract.records import done, notice


async def test_notifications_are_pending_per_sink_in_commit_order(store: StoreBackend):
    await store.commit([done("e1", outbox=[notice("n1"), notice("n2", ("kafka",))])])
    await store.commit([done("e2", outbox=[notice("n3")])])
    kafka = await store.pending_deliveries("kafka", 10)
    assert [r.event_id for r in kafka] == ["n1", "n2", "n3"]
    assert all(isinstance(r, PendingDelivery) for r in kafka)
    first = kafka[0]
    assert (first.event_type, first.channel, first.subtopic, first.key) == (
        "ctao.calibpipe.calibration_ready",
        "products",
        "camera_calibration",
        "k",
    )
    assert json.loads(first.envelope) == {"id": "n1"}
    assert first.seq < kafka[1].seq < kafka[2].seq
    assert [r.event_id for r in await store.pending_deliveries("mqtt", 10)] == ["n1", "n3"]
    assert [r.event_id for r in await store.pending_deliveries("kafka", 2)] == ["n1", "n2"]
    assert await store.outbox_backlog() == {"kafka": 3, "mqtt": 2}


async def test_delivered_failed_and_refused_rows(store: StoreBackend):
    await store.commit([done("e1", outbox=[notice(f"n{i}") for i in range(4)])])
    await store.mark_delivered("kafka", ["n0", "n1"])
    await store.mark_failed("kafka", ["n2"], "KafkaConnectionError: broker down" * 100)
    await store.mark_refused("kafka", [("n3", "MessageSizeTooLargeError: too large")])
    assert [r.event_id for r in await store.pending_deliveries("kafka", 10)] == ["n2"]
    assert [r.event_id for r in await store.pending_deliveries("mqtt", 10)] == [
        "n0",
        "n1",
        "n2",
        "n3",
    ]  # the other sink is untouched
    assert await store.outbox_backlog() == {"kafka": 1, "mqtt": 4}
    counts = await store.counts()
    assert (counts["outbox_pending"], counts["outbox_failed"]) == (5, 1)
    await store.mark_delivered("kafka", ["n2"])
    await store.mark_delivered("mqtt", ["n0", "n1", "n2", "n3"])
    assert await store.pending_deliveries("kafka", 10) == []
    assert await store.outbox_backlog() == {}
    counts = await store.counts()
    assert (counts["outbox_pending"], counts["outbox_failed"]) == (0, 1)


async def test_relays_of_two_instances_claim_disjoint_rows_until_their_claims_expire(
    backend, store: StoreBackend
):
    await store.commit([done("e1", outbox=[notice(f"n{i}") for i in range(6)])])
    async with backend.make() as other:
        mine = await store.claim_deliveries("kafka", 4, "relay-a", 60)
        theirs = await other.claim_deliveries("kafka", 4, "relay-b", 60)
        assert [r.event_id for r in mine] == ["n0", "n1", "n2", "n3"]
        assert [r.event_id for r in theirs] == ["n4", "n5"]  # in commit order, none twice
        assert await other.claim_deliveries("kafka", 4, "relay-b", 60) == theirs  # its own
        assert await store.claim_deliveries("mqtt", 2, "relay-b", 60) != []  # per sink
        # a failed attempt keeps the claim (the holder retries); delivered rows are gone
        await store.mark_failed("kafka", ["n0"], "broker down")
        await store.mark_delivered("kafka", ["n1", "n2", "n3"])
        assert await other.claim_deliveries("kafka", 10, "relay-b", 60) == theirs
        assert [r.event_id for r in await store.claim_deliveries("kafka", 10, "relay-a", 60)] == [
            "n0"
        ]
        # relay-a dies: once its claim expires, relay-b publishes its row
        await store.claim_deliveries("kafka", 10, "relay-a", 1)
        assert [r.event_id for r in await other.claim_deliveries("kafka", 10, "relay-b", 60)] == [
            "n4",
            "n5",
        ]
        await asyncio.sleep(1.2)
        taken = await other.claim_deliveries("kafka", 10, "relay-b", 60)
        assert [r.event_id for r in taken] == ["n0", "n4", "n5"]
        assert await store.claim_deliveries("kafka", 10, "relay-a", 60) == []
        assert await store.outbox_backlog() == {"kafka": 3, "mqtt": 6}  # claims are pending


async def test_concurrent_claims_never_hand_a_row_to_two_holders(backend, store: StoreBackend):
    await store.commit([done("e1", outbox=[notice(f"n{i}") for i in range(40)])])
    async with backend.make() as a, backend.make() as b, backend.make() as c:
        relays = ((a, "a"), (b, "b"), (c, "c"))
        got = await asyncio.gather(*(s.claim_deliveries("kafka", 14, n, 60) for s, n in relays))
        claimed = [r.event_id for rows in got for r in rows]
        assert len(claimed) == len(set(claimed))  # a row is one holder's
        rest = await store.claim_deliveries("kafka", 40, "d", 60)
    assert sorted(claimed + [r.event_id for r in rest]) == sorted(f"n{i}" for i in range(40))


async def test_the_instances_holding_claims_are_listed(store: StoreBackend):
    assert await store.claims() == []
    await store.commit([done("e1", outbox=[notice(f"n{i}") for i in range(3)])])
    await store.claim_deliveries("kafka", 2, "calibd-a:1:x", 60)
    await store.claim_deliveries("mqtt", 3, "calibd-b:2:y", 60)
    await store.mark_delivered("mqtt", ["n0"])  # a delivered row holds no claim any more
    rows = await store.claims()
    assert [(c["holder"], c["what"], c["n"]) for c in rows] == [
        ("calibd-a:1:x", "outbox", 2),
        ("calibd-b:2:y", "outbox", 2),
    ]
    assert all(isinstance(c["until"], str) and c["until"] > "2026" for c in rows)


async def test_a_lease_has_one_holder_until_it_expires(backend, store: StoreBackend):
    async with backend.make() as other:
        assert await store.hold_lease("acada-triggers:/data", "a", 1)
        assert not await other.hold_lease("acada-triggers:/data", "b", 60)
        assert await other.hold_lease("acada-triggers:/other", "b", 60)  # another lease
        assert await store.hold_lease("acada-triggers:/data", "a", 1)  # renewed
        await asyncio.sleep(1.2)  # a stopped renewing: b takes over, a is now refused
        assert await other.hold_lease("acada-triggers:/data", "b", 60)
        assert not await store.hold_lease("acada-triggers:/data", "a", 60)
    leases = {c["what"]: c["holder"] for c in await store.claims()}
    assert leases == {"lease acada-triggers:/data": "b", "lease acada-triggers:/other": "b"}


async def test_refused_rows_are_requeued_by_sink_or_by_id(store: StoreBackend):
    await store.commit([done("e1", outbox=[notice(f"n{i}") for i in range(3)])])
    await store.mark_delivered("kafka", ["n0"])
    await store.mark_refused("kafka", [("n1", "too large"), ("n2", "too large")])
    await store.mark_refused("mqtt", [("n2", "over mqtt.max_publish_bytes")])
    assert await store.pending_deliveries("kafka", 10) == []
    assert await store.requeue_refused("kafka", ["n2"]) == 1  # that one, of that sink
    assert [r.event_id for r in await store.pending_deliveries("kafka", 10)] == ["n2"]
    assert await store.requeue_refused() == 2  # kafka's n1 and mqtt's n2; never delivered n0
    assert [r.event_id for r in await store.pending_deliveries("kafka", 10)] == ["n1", "n2"]
    assert [r.event_id for r in await store.pending_deliveries("mqtt", 10)] == ["n0", "n1", "n2"]
    assert await store.requeue_refused() == 0
    await store.mark_refused("kafka", [("n1", "too large again")])  # refused again: recorded
    assert [r.event_id for r in await store.pending_deliveries("kafka", 10)] == ["n2"]
