"""The outbox on a real SQLite database: reads see every commit made before them, however many
coroutines share the read connection."""

from __future__ import annotations

import asyncio

from calibd.store import Completion, OutboxRecord, Store


def notices(n: int, sinks: tuple[str, ...] = ("kafka", "mqtt")) -> list[Completion]:
    return [
        Completion(
            status="done",
            transport="t",
            source="s",
            event_id=f"e{i}",
            outbox=[
                OutboxRecord(
                    event_id=f"n{i}",
                    event_type="ctao.calibpipe.calibration_ready",
                    channel="products",
                    envelope=b"{}",
                    sinks=sinks,
                )
            ],
        )
        for i in range(n)
    ]


async def test_a_delivered_row_is_never_read_as_pending_again(tmp_path):
    """Two relay loops mark small batches delivered while a third coroutine reads the backlog
    without pause on the same read connection. Before the fix, a query started between another
    query's execute and fetch shared its older snapshot: 20-30 of 300 rows per sink came back
    pending after being marked delivered (published twice, attempts=2, no error)."""
    async with Store(tmp_path / "db.sqlite") as store:
        await store.commit(notices(300))
        seen_again: list[str] = []

        async def relay(sink: str) -> None:
            delivered: set[str] = set()
            while rows := await store.pending_deliveries(sink, 7):
                seen_again.extend(r["event_id"] for r in rows if r["event_id"] in delivered)
                await store.mark_delivered(sink, [r["event_id"] for r in rows])
                delivered.update(r["event_id"] for r in rows)

        async def reader() -> None:
            for _ in range(2000):
                await store.outbox_backlog()

        await asyncio.gather(relay("kafka"), relay("mqtt"), reader())
        assert seen_again == []
        attempts = {
            tuple(r)
            for r in await store.r.execute_fetchall("SELECT sink, attempts FROM outbox_deliveries")
        }
        assert attempts == {("kafka", 1), ("mqtt", 1)}
        assert await store.outbox_backlog() == {}
