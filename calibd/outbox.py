"""The outbox relay: publishes committed notifications to every sink, retrying while a broker
is down. A notification is published after its product is committed, at least once per sink;
each copy carries the same envelope id, so consumers can deduplicate."""

from __future__ import annotations

import asyncio
import random

import structlog

from calibd.config import OutboxSettings
from calibd.sinks.base import Sink
from calibd.store import Store

__all__ = ["OutboxRelay"]

log = structlog.get_logger("calibd.outbox")


class OutboxRelay:
    """One loop per sink: read pending deliveries in order, publish, mark delivered."""

    def __init__(self, store: Store, sinks: list[Sink], settings: OutboxSettings) -> None:
        self.store = store
        self.sinks = sinks
        self.settings = settings
        self._wake = {s.name: asyncio.Event() for s in sinks}
        self._idle = {s.name: asyncio.Event() for s in sinks}
        self._tasks: list[asyncio.Task] = []
        self.published = dict.fromkeys(self._wake, 0)

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
        delay = self.settings.retry_min_s
        healthy = True
        wake = self._wake[sink.name]
        while True:
            wake.clear()
            rows = await self.store.pending_deliveries(sink.name, self.settings.batch_size)
            if not rows:
                try:
                    async with asyncio.timeout(1.0):
                        await wake.wait()
                except TimeoutError:
                    pass
                continue
            delivered: list[str] = []
            try:
                await sink.publish(rows, delivered.append)
            except Exception as exc:
                if delivered:
                    await self.store.mark_delivered(sink.name, delivered)
                    self.published[sink.name] += len(delivered)
                failed = [r["event_id"] for r in rows if r["event_id"] not in set(delivered)]
                await self.store.mark_failed(sink.name, failed[:1], f"{type(exc).__name__}: {exc}")
                if healthy:
                    log.warning(
                        "sink unavailable, notifications kept in the outbox",
                        sink=sink.name,
                        error=str(exc) or type(exc).__name__,
                        pending=len(failed),
                    )
                    healthy = False
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.settings.retry_max_s)
                continue
            await self.store.mark_delivered(sink.name, delivered)
            self.published[sink.name] += len(delivered)
            if not healthy:
                log.info("sink available again", sink=sink.name)
                healthy = True
            delay = self.settings.retry_min_s
