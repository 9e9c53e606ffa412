"""Assembling calibd: store, handlers, pipeline, sources and outbox relay; start and stop."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import signal
from collections import Counter
from pathlib import Path

import structlog

from calibd.config import Settings
from calibd.errors import ConfigurationError, StoreError
from calibd.outbox import OutboxRelay
from calibd.pipeline import Pipeline
from calibd.registry import Registry, default_registry
from calibd.sinks.base import Sink
from calibd.sources.mqtt import inbox_raw
from calibd.store import Store

__all__ = ["Daemon", "load_handlers"]

log = structlog.get_logger("calibd.daemon")


def load_handlers(modules: list[str], registry: Registry = default_registry) -> Registry:
    """Import the handler modules (they register themselves); reject an empty result."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigurationError(
                f"invalid configuration: pipeline.handler_modules: cannot import {name!r}: {exc}"
            ) from None
    return registry


def build_sinks(settings: Settings) -> list[Sink]:
    sinks: list[Sink] = []
    if settings.kafka.enabled and settings.kafka.publish:
        from calibd.sinks.kafka import KafkaSink

        sinks.append(KafkaSink(settings.kafka))
    if settings.mqtt.enabled and settings.mqtt.publish:
        from calibd.sinks.mqtt import MqttSink

        sinks.append(MqttSink(settings.mqtt))
    return sinks


class Daemon:
    """The running service. `async with Daemon(settings) as d:` opens everything."""

    def __init__(self, settings: Settings, registry: Registry | None = None) -> None:
        self.settings = settings
        self.registry = registry or load_handlers(settings.pipeline.handler_modules)
        self.store = Store(settings.database_path, settings.database.busy_timeout_ms)
        self.sinks = build_sinks(settings)
        self.pipeline: Pipeline | None = None
        self.relay: OutboxRelay | None = None
        self.sources: list = []
        self._tasks: list[asyncio.Task] = []
        self.stopping = asyncio.Event()
        self.fatal: BaseException | None = None

    async def __aenter__(self) -> Daemon:
        await self.store.open()
        self.pipeline = Pipeline(
            self.settings, self.store, self.registry, tuple(s.name for s in self.sinks)
        )
        self.relay = OutboxRelay(self.store, self.sinks, self.settings.outbox)
        self.pipeline.on_commit(self.relay.wake)
        self.pipeline.on_fatal = self._on_fatal
        await self.pipeline.start()
        self.relay.start()
        log.info(
            "calibd started",
            database=str(self.settings.database_path),
            handlers=sorted(h.event_type for h in self.registry),
            sinks=[s.name for s in self.sinks],
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    async def recover_inbox(self) -> int:
        """Process inbox rows a previous run received but did not complete."""
        assert self.pipeline is not None
        rows = await self.store.inbox()
        for row in rows:
            await self.pipeline.submit(
                inbox_raw(row["id"], row["transport"], row["origin"], row["payload"])
            )
        if rows:
            log.info("recovered messages from the inbox", count=len(rows))
        return len(rows)

    def build_sources(self) -> list:
        assert self.pipeline is not None
        s, sources = self.settings, []
        if s.kafka.enabled and s.kafka.consume:
            from calibd.sources.kafka import KafkaSource

            sources.append(KafkaSource(s.kafka, self.pipeline))
        if s.mqtt.enabled and s.mqtt.consume:
            from calibd.sources.mqtt import MqttSource

            sources.append(MqttSource(s.mqtt, self.pipeline, self.store))
        if s.acada_triggers.enabled:
            from calibd.sources.acada_triggers import AcadaTriggerSource

            sources.append(AcadaTriggerSource(s.acada_triggers, self.pipeline, self.store))
        return sources

    async def run(self) -> int:
        """Consume until SIGTERM/SIGINT; return the exit code."""
        self.sources = self.build_sources()
        if not self.sources:
            raise ConfigurationError(
                "invalid configuration: no source enabled (kafka.enabled, mqtt.enabled or "
                "acada_triggers.enabled); use `calibd replay FILE` to process a file"
            )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        await self.recover_inbox()
        for source in self.sources:
            task = asyncio.create_task(source.run(), name=f"calibd-source-{source.name}")
            task.add_done_callback(self._source_ended)
            self._tasks.append(task)
        await self.stopping.wait()
        return 1 if self.fatal else 0

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.stopping.is_set():
            log.warning("second signal: stopping at once", signal=sig.name)
            raise SystemExit(1)
        log.info("stopping", signal=sig.name)
        self.stopping.set()

    def _on_fatal(self, exc: BaseException) -> None:
        """The database could not be written: stop without acknowledging anything more."""
        if self.fatal is None:
            log.error("database write failed; stopping", error=str(exc))
            self.fatal = exc
        self.stopping.set()

    def _source_ended(self, task: asyncio.Task) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("source failed", source=task.get_name(), error=repr(exc))
            self.fatal = exc
            self.stopping.set()

    async def shutdown(self, flush_timeout: float = 5.0) -> None:
        """Stop sources, finish in-flight work, commit offsets, flush the outbox, close."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.pipeline is not None:
            await self.pipeline.drain()
        for source in self.sources:
            close = getattr(source, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
        if self.relay is not None:
            if self.sinks and not await self.relay.flush(flush_timeout):
                log.warning(
                    "outbox not empty at shutdown; delivered at next start",
                    backlog=await self.store.outbox_backlog(),
                )
            await self.relay.stop()
        if self.pipeline is not None:
            await self.pipeline.stop()
        with contextlib.suppress(StoreError):
            counts = await self.store.counts()
            log.info("calibd stopped", **counts)
        await self.store.close()


async def replay(settings: Settings, path: Path, flush_timeout: float = 10.0) -> Counter[str]:
    """Process a JSON-lines file of envelopes and return the outcome counts."""
    from calibd.sources.replay import replay_file

    async with Daemon(settings) as daemon:
        assert daemon.pipeline is not None
        await daemon.recover_inbox()
        counts = await replay_file(path, daemon.pipeline)
        await daemon.pipeline.drain()
        if daemon.sinks and daemon.relay is not None:
            await daemon.relay.flush(flush_timeout)
    return counts
