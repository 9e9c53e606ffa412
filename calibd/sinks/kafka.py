"""Publishing notifications to Kafka (structured-mode CloudEvents, acks=all)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from calibd.config import KafkaSettings
from calibd.kafka_common import client_options

__all__ = ["KafkaSink"]

HEADERS = [("content-type", b"application/cloudevents+json")]


class KafkaSink:
    name = "kafka"

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self.topics = {
            "products": settings.products_topic,
            "quality": settings.quality_topic,
            "reports": settings.reports_topic,
            "dlq": settings.dlq_topic,
        }
        self._producer: AIOKafkaProducer | None = None

    async def _ensure(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                acks="all", linger_ms=5, request_timeout_ms=15_000, **client_options(self.settings)
            )
            try:
                async with asyncio.timeout(20):
                    await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def publish(self, rows: Sequence[Any], delivered: Callable[[str], None]) -> None:
        producer = await self._ensure()
        try:
            futures = [
                await producer.send(
                    self.topics[r["channel"]],
                    value=r["envelope"],
                    key=r["key"].encode() if r["key"] else None,
                    headers=HEADERS,
                )
                for r in rows
            ]
            for row, fut in zip(rows, futures, strict=True):
                await fut
                delivered(row["event_id"])
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()
