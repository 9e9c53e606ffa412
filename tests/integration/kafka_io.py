"""Independent Kafka peers for the tests (plain aiokafka, no calibd code)."""

from __future__ import annotations

import asyncio
import json
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def produce(
    bootstrap: str, topic: str, values: list[bytes], headers=None, partitions: int | None = None
) -> None:
    """Send `values` in order; with `partitions`, value i goes to partition i % partitions."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i, value in enumerate(values):
            partition = None if partitions is None else i % partitions
            await producer.send_and_wait(topic, value, headers=headers, partition=partition)
    finally:
        await producer.stop()


async def consume(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> list[dict]:
    """Read `count` JSON messages from the start of `topic` with a fresh group."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=1000,
    )
    await consumer.start()
    out: list[dict] = []
    try:
        async with asyncio.timeout(timeout):
            while len(out) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    out.extend(
                        {"value": json.loads(r.value), "headers": dict(r.headers), "key": r.key}
                        for r in records
                    )
    finally:
        await consumer.stop()
    return out
