"""Publishing notifications to Kafka (structured-mode CloudEvents, acks=all)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka import errors as kerr

from calibd.config import KafkaSettings
from calibd.events import sent_on
from calibd.store.records import PendingDelivery
from calibd.transports.base import Delivered, Refused, describe
from calibd.transports.kafka.options import client_options

__all__ = ["KafkaSink", "refuses_record"]

HEADERS = [("content-type", b"application/cloudevents+json")]

RECORD_ERRORS: tuple[type[Exception], ...] = (
    kerr.MessageSizeTooLargeError,  # over max_request_size (client) or message.max.bytes
    kerr.RecordTooLargeError,
    kerr.RecordListTooLargeError,
    kerr.InvalidMessageError,  # and CorruptRecordException: the broker refuses the record
    kerr.CorruptRecordException,
    kerr.InvalidTimestampError,
    kerr.InvalidTopicError,
    kerr.UnsupportedForMessageFormatError,
)
"""aiokafka errors about one record: publishing it again can never succeed. Every other
error (retriable ones, connection, timeout, authorisation) concerns the sink: retried."""


def refuses_record(exc: BaseException) -> bool:
    """True when `exc` says this record can never be published (see RECORD_ERRORS)."""
    return isinstance(exc, RECORD_ERRORS) and not getattr(exc, "retriable", False)


class KafkaSink:
    name = "kafka"

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self.topics = {channel.name: settings.topic_of(channel) for channel in sent_on()}
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

    def _address(self, row: PendingDelivery) -> tuple[str, bytes | None]:
        """Topic and key of a row; raises KeyError/ValueError when it has none usable."""
        return self.topics[row.channel], row.key.encode() if row.key else None

    async def publish(
        self, rows: Sequence[PendingDelivery], delivered: Delivered, refused: Refused
    ) -> None:
        """Send every row (pipelined), then await each confirmation in order."""
        producer = await self._ensure()
        failure: BaseException | None = None
        sent: list[tuple[Any, Any]] = []  # (row, future or the error refusing it)
        try:
            for row in rows:
                try:
                    topic, key = self._address(row)
                    fut = await producer.send(topic, value=row.envelope, key=key, headers=HEADERS)
                except (KeyError, ValueError, TypeError) as exc:  # no topic, key not text
                    sent.append((row, exc))
                    continue
                except kerr.KafkaError as exc:
                    if not refuses_record(exc):
                        failure = exc
                        break
                    sent.append((row, exc))
                    continue
                sent.append((row, fut))
            for row, fut in sent:
                if isinstance(fut, BaseException):
                    refused(row.event_id, describe(fut))
                    continue
                try:
                    await fut
                except kerr.KafkaError as exc:
                    if refuses_record(exc):
                        refused(row.event_id, describe(exc))
                    else:
                        failure = failure or exc
                    continue
                delivered(row.event_id)
        except BaseException:
            await self.close()
            raise
        if failure is not None:
            await self.close()
            raise failure

    async def close(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()
