"""The outbox relay: publishes committed notifications to every sink, retrying while a broker
is down. A notification is published after its product is committed, at least once per sink;
each copy carries the same envelope id, so consumers can deduplicate.

Relays of several instances on one database share the rows: each claims what it publishes
(`RelayStore.claim_deliveries`, for `outbox.claim_lease_s`), so a notification is published by
one relay at a time, and a dead instance's rows go to another once its claims expire.

A row a sink refuses for good (see `calibd.transports.base.Sink`) is recorded failed on its outbox
row with the reason, counted (`calibd_notifications_refused_total`) and logged as an error
once; the rows after it flow on. Nothing a row holds, and no database error, ends the relay.
"""

from __future__ import annotations

import asyncio

from calibd.backoff import backoff_delay
from calibd.config import OutboxSettings
from calibd.ids import process_holder
from calibd.logs import get_logger
from calibd.metrics import Metrics
from calibd.store import RelayStore
from calibd.transports.base import Sink, describe

__all__ = ["OutboxRelay"]

log = get_logger("calibd.outbox")


class OutboxRelay:
    """One loop per sink: claim pending deliveries in order, publish, record the outcomes."""

    def __init__(
        self,
        store: RelayStore,
        sinks: list[Sink],
        settings: OutboxSettings,
        metrics: Metrics | None = None,
        instance: str | None = None,
    ) -> None:
        self.store = store
        self.sinks = sinks
        self.settings = settings
        self.metrics = metrics or Metrics()
        self._wake = {s.name: asyncio.Event() for s in sinks}
        self._tasks: list[asyncio.Task] = []
        #: who claims the rows this relay publishes
        self.holder = process_holder(instance)
        self.published = dict.fromkeys(self._wake, 0)
        self.refused = dict.fromkeys(self._wake, 0)

    def wake(self) -> None:
        """Called after each commit: there may be something new to publish."""
        for ev in self._wake.values():
            ev.set()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(s), name=f"calibd-outbox-{s.name}") for s in self.sinks
        ]

    async def flush(self, timeout: float) -> bool:
        """Wait until every sink has nothing pending (True) or `timeout` passes (False)."""
        self.wake()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    backlog = await self.store.outbox_backlog()
                    if not any(backlog.get(s.name) for s in self.sinks):
                        return True
                    await asyncio.sleep(0.05)
        except TimeoutError:
            return False

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for s in self.sinks:
            await s.close()

    async def _run(self, sink: Sink) -> None:
        failures = 0
        healthy = True
        wake = self._wake[sink.name]
        while True:
            wake.clear()
            try:
                found = await self._round(sink)
            except Exception as exc:  # the sink is unavailable, or the database is
                if healthy:
                    log.warning(
                        "sink unavailable, notifications kept in the outbox",
                        sink=sink.name,
                        error=describe(exc),
                    )
                    healthy = False
                failures += 1
                s = self.settings
                await asyncio.sleep(backoff_delay(failures, s.retry_min_s, s.retry_max_s))
                continue
            if not healthy:
                log.info("sink available again", sink=sink.name)
                healthy = True
            failures = 0
            if not found:
                try:
                    async with asyncio.timeout(1.0):
                        await wake.wait()
                except TimeoutError:
                    pass

    async def _round(self, sink: Sink) -> bool:
        """Publish one batch and record what became of each row; False when none was
        pending. Raises (after recording the confirmed and refused rows) on a transient error."""
        s = self.settings
        rows = await self.store.claim_deliveries(
            sink.name, s.batch_size, self.holder, s.claim_lease_s
        )
        if not rows:
            return False
        delivered: list[str] = []
        refused: list[tuple[str, str]] = []
        try:
            await sink.publish(rows, delivered.append, lambda e, why: refused.append((e, why)))
        except Exception as exc:
            await self._record(sink, rows, delivered, refused)
            done = set(delivered) | {e for e, _ in refused}
            failed = [r.event_id for r in rows if r.event_id not in done]
            await self.store.mark_failed(sink.name, failed[:1], describe(exc))
            raise
        await self._record(sink, rows, delivered, refused)
        return True

    async def _record(
        self, sink: Sink, rows, delivered: list[str], refused: list[tuple[str, str]]
    ) -> None:
        if delivered:
            await self.store.mark_delivered(sink.name, delivered)
            self.published[sink.name] += len(delivered)
        if not refused:
            return
        await self.store.mark_refused(sink.name, refused)
        types = {r.event_id: r.event_type for r in rows}
        for event_id, reason in refused:
            self.refused[sink.name] += 1
            self.metrics.notification_refused(sink.name, types.get(event_id, "unknown"))
            log.error(
                "notification refused by the sink, recorded failed in the outbox",
                sink=sink.name,
                notification_id=event_id,
                notification_type=types.get(event_id),
                reason=reason,
            )
