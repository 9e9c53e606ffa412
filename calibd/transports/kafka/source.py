"""Kafka source (aiokafka consumer group, manual offset commits).

Offsets are committed only past messages whose outcome is committed to the database,
periodically (`kafka.commit_interval_s`), on partition revocation and at shutdown. A crash
before an offset commit means redelivery; the ledger turns the redelivery into a no-op.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from calibd.backoff import backoff_delay
from calibd.config import KafkaSettings
from calibd.logs import get_logger
from calibd.transports.base import Admission, RawMessage
from calibd.transports.kafka.offsets import OffsetTracker
from calibd.transports.kafka.options import client_options

__all__ = ["KafkaSource"]

log = get_logger("calibd.transports.kafka.source")


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, source: KafkaSource) -> None:
        self.source = source

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.source.finish_partitions(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.source.assigned = set(assigned)
        log.info(
            "kafka partitions assigned",
            partitions=sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned),
        )


class KafkaSource:
    name = "kafka"

    def __init__(
        self, settings: KafkaSettings, pipeline: Admission, revoke_timeout_s: float = 30
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.tracker = OffsetTracker()
        self.revoke_timeout_s = revoke_timeout_s
        self._inflight: dict[TopicPartition, set[asyncio.Future]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self.connected = False
        self.assigned: set[TopicPartition] = set()
        """The partitions of the last assignment (empty until the group has joined)."""

    async def run(self) -> None:
        s = self.settings
        consumer = AIOKafkaConsumer(
            group_id=s.group_id,
            enable_auto_commit=False,
            auto_offset_reset=s.auto_offset_reset,
            max_poll_records=s.max_poll_records,
            max_poll_interval_ms=s.max_poll_interval_ms,
            fetch_max_wait_ms=s.fetch_max_wait_ms,
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=min(3000, s.session_timeout_ms // 3),
            **client_options(s),
        )
        self._consumer = consumer
        await self._start(consumer)
        consumer.subscribe(s.topics, listener=_Rebalance(self))
        committer = asyncio.create_task(self._commit_periodically(), name="calibd-kafka-commit")
        try:
            while True:
                if self.pipeline.capacity == 0:
                    await self._wait_for_capacity(consumer)
                for tp, records in (await self._fetch(consumer)).items():
                    await self._submit(tp, records)
        finally:
            committer.cancel()
            await asyncio.gather(committer, return_exceptions=True)

    async def _fetch(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, list]:
        """Records for the room in the pipeline: what one fetch brings, topped up by the
        fetches that follow within `batch_linger_ms`, so a batch under load is large."""
        room = min(self.pipeline.capacity, self.settings.max_poll_records)
        batches = await consumer.getmany(timeout_ms=500, max_records=room)
        got = sum(len(r) for r in batches.values())
        while got and got < room and self.settings.batch_linger_ms:
            more = await consumer.getmany(
                timeout_ms=self.settings.batch_linger_ms, max_records=room - got
            )
            if not more:
                break
            for tp, records in more.items():
                batches.setdefault(tp, []).extend(records)
                got += len(records)
        return batches

    async def _wait_for_capacity(self, consumer: AIOKafkaConsumer) -> None:
        """Backpressure. A short wait is just a wait; if the pipeline stays full (long
        computations), pause every partition and keep polling about once a second, so the
        group sees a live member and starts no rebalance, until there is room."""
        if await self.pipeline.wait_capacity(timeout=5.0):
            return
        paused = consumer.assignment()
        consumer.pause(*paused)
        held: dict[TopicPartition, list] = {}
        try:
            while not await self.pipeline.wait_capacity(timeout=1.0):
                for tp, recs in (await consumer.getmany(timeout_ms=0)).items():
                    held.setdefault(tp, []).extend(recs)
        finally:
            consumer.resume(*(tp for tp in paused if tp in consumer.assignment()))
        for tp, records in held.items():  # fetched just before the pause: in their order
            await self._submit(tp, records)

    async def _start(self, consumer: AIOKafkaConsumer) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                await consumer.start()
                self.connected = True
                log.info(
                    "kafka consumer started",
                    topics=self.settings.topics,
                    group=self.settings.group_id,
                )
                return
            except KafkaError as exc:
                delay = backoff_delay(attempt, base=0.5, cap=30.0)
                log.warning(
                    "kafka unavailable, retrying", error=str(exc), retry_in_s=round(delay, 2)
                )
                await asyncio.sleep(delay)

    async def _submit(self, tp: TopicPartition, records: list) -> None:
        """Hand a fetched batch of one partition to the pipeline; each offset is finished
        when that message's outcome is committed."""
        raws = [
            RawMessage(
                transport="kafka",
                origin=f"kafka {rec.topic}[{rec.partition}]@{rec.offset}",
                origin_key=f"kafka:{rec.topic}:{rec.partition}:{rec.offset}:{rec.timestamp}",
                payload=rec.value or b"",
                headers=list(rec.headers or ()),
            )
            for rec in records
        ]
        offsets = [rec.offset for rec in records]
        for offset in offsets:
            self.tracker.started(tp, offset)
        fut = await self.pipeline.submit_many(raws)
        inflight = self._inflight.setdefault(tp, set())
        inflight.add(fut)

        def finished(f: asyncio.Future, tp=tp) -> None:
            inflight.discard(f)
            if f.cancelled() or f.exception() is not None:
                return
            for offset, result in zip(offsets, f.result(), strict=True):
                if not isinstance(result, BaseException):
                    self.tracker.finished(tp, offset)

        fut.add_done_callback(finished)

    async def _commit_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.settings.commit_interval_s)
            await self.commit()

    async def commit(self, tps=None) -> None:
        """Commit the committable offsets (all partitions, or only `tps`)."""
        offsets = self.tracker.take_committable(tps)
        if not offsets or self._consumer is None:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:
            # not fatal: the messages are in the DB, a redelivery is deduplicated
            log.warning("kafka offset commit failed", error=str(exc))

    async def finish_partitions(self, tps: set[TopicPartition]) -> None:
        """On revoke: let in-flight messages of `tps` finish (bounded), commit, forget them."""
        futs = [f for tp in tps for f in self._inflight.get(tp, ())]
        if futs:
            await asyncio.wait(futs, timeout=self.revoke_timeout_s)
        await self.commit(tps)
        self.tracker.forget(tps)
        for tp in tps:
            self._inflight.pop(tp, None)
        log.info(
            "kafka partitions revoked",
            partitions=sorted(f"{tp.topic}[{tp.partition}]" for tp in tps),
        )

    def lag(self) -> dict[tuple[str, int], int]:
        """Records behind the high watermark per assigned partition (from the last fetch)."""
        consumer = self._consumer
        if consumer is None:
            return {}
        out = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            done = self.tracker.position(tp)
            if high is not None and done is not None:
                out[(tp.topic, tp.partition)] = max(0, high - done)
        return out

    async def close(self) -> None:
        """Commit what is committed in the DB and leave the group."""
        if self._consumer is None:
            return
        await self.commit()
        try:
            await self._consumer.stop()
        finally:
            self._consumer = None
            self.connected = False
