"""Assembling calibd: store, handlers, pipeline, sources and outbox relay; start and stop."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

from calibd.config import Settings
from calibd.errors import ConfigurationError, StoreError
from calibd.heap import settle_heap
from calibd.inbox_keeper import InboxKeeper
from calibd.logs import get_logger
from calibd.outbox import OutboxRelay
from calibd.pipeline import Pipeline
from calibd.registry import Registry, default_registry
from calibd.scratch import remove_stale
from calibd.store.factory import database_shown, make_store
from calibd.systemd import Notifier
from calibd.transports.base import Sink, Source

__all__ = ["Daemon", "load_handlers"]

log = get_logger("calibd.daemon")


def load_handlers(modules: list[str]) -> Registry:
    """Import the handler modules (they register themselves with the default registry) and
    return a registry of the handlers defined in those modules (and their submodules) only."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigurationError(
                f"invalid configuration: pipeline.handler_modules: cannot import {name!r}: {exc}"
            ) from None
    selected = Registry()
    for h in default_registry:
        module = h.fn.__module__
        if any(module == m or module.startswith(m + ".") for m in modules):
            selected.adopt(h)
    return selected


def build_sinks(settings: Settings) -> list[Sink]:
    sinks: list[Sink] = []
    if settings.kafka.enabled and settings.kafka.publish:
        from calibd.transports.kafka.sink import KafkaSink

        sinks.append(KafkaSink(settings.kafka))
    if settings.mqtt.enabled and settings.mqtt.publish:
        from calibd.transports.mqtt.sink import MqttSink

        sinks.append(MqttSink(settings.mqtt))
    return sinks


class Daemon:
    """The running service. `async with Daemon(settings) as d:` opens everything."""

    def __init__(self, settings: Settings, registry: Registry | None = None) -> None:
        self.settings = settings
        self.registry = registry or load_handlers(settings.pipeline.handler_modules)
        self.store = make_store(settings)
        self.sinks = build_sinks(settings)
        self.pipeline: Pipeline | None = None
        self.relay: OutboxRelay | None = None
        self.sources: list = []
        self._tasks: list[asyncio.Task] = []
        self.stopping = asyncio.Event()
        self.fatal: BaseException | None = None
        self.notifier = Notifier()
        self.health = None
        self._loop_lag_s = 0.0
        self._watchdog_pinged: float | None = None
        self._started = time.monotonic()
        self._signals_installed = False

    async def __aenter__(self) -> Daemon:
        await self.store.open()
        self.pipeline = Pipeline(
            self.settings, self.store, self.registry, tuple(s.name for s in self.sinks)
        )
        self.relay = OutboxRelay(
            self.store,
            self.sinks,
            self.settings.outbox,
            self.pipeline.metrics,
            instance=self.settings.instance,
        )
        self.pipeline.on_commit(self.relay.wake)
        self.pipeline.on_fatal = self._on_fatal
        await self.pipeline.start()
        self.relay.start()
        log.info(
            "calibd started",
            database=database_shown(self.settings),
            handlers=sorted(h.event_type for h in self.registry),
            sinks=[s.name for s in self.sinks],
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    async def recover_inbox(self, hold: bool = True) -> int:
        """Process this instance's inbox rows a previous run received but did not complete
        (see calibd.inbox_keeper); with `hold` (`run`), take the inbox lease first."""
        assert self.pipeline is not None
        s = self.settings
        self.inbox = InboxKeeper(self.store, self.pipeline, s.instance, s.pipeline.inbox_lease_s)
        return await self.inbox.recover(hold)

    def build_sources(self) -> list[Source]:
        assert self.pipeline is not None
        s, sources = self.settings, []
        if s.kafka.enabled and s.kafka.consume:
            from calibd.transports.kafka.source import KafkaSource

            sources.append(KafkaSource(s.kafka, self.pipeline))
        if s.mqtt.enabled and s.mqtt.consume:
            from calibd.transports.mqtt.source import MqttSource

            sources.append(MqttSource(s.mqtt, self.pipeline))
        if s.acada_triggers.enabled:
            from calibd.transports.acada_triggers.source import AcadaTriggerSource

            sources.append(
                AcadaTriggerSource(s.acada_triggers, self.pipeline, s.effective_data_roots)
            )
        return sources

    async def run(self) -> int:
        """Consume until SIGTERM/SIGINT; return the exit code."""
        self.sources = self.build_sources()
        if not self.sources:
            raise ConfigurationError(
                "invalid configuration: no source enabled (kafka.enabled, mqtt.enabled or "
                "acada_triggers.enabled); use `calibd replay FILE` to process a file"
            )
        self.install_signal_handlers()
        if self.stopping.is_set():  # a signal came while starting: nothing was taken yet
            return 1 if self.fatal else 0
        await self.recover_inbox()
        await asyncio.to_thread(remove_stale, self.settings.data_dir)
        settle_heap()
        for source in self.sources:
            task = asyncio.create_task(source.run(), name=f"calibd-source-{source.name}")
            task.add_done_callback(self._source_ended)
            self._tasks.append(task)
        self._source_tasks = list(self._tasks)
        ops = self.settings.operations
        if ops.http_port is not None:
            from calibd.health import HealthServer
            from calibd.web import create_app

            self.health = HealthServer(
                ops.http_host,
                ops.http_port,
                {"/healthz": self._healthz, "/readyz": self._readyz, "/metrics": self._metrics},
                app=create_app(self.store, self.settings, self.healthy, self.live),
            )
            await self.health.start()
        self._tasks.append(asyncio.create_task(self._summaries(), name="calibd-summary"))
        self._tasks.append(asyncio.create_task(self.inbox.run(), name="calibd-inbox"))
        if self.notifier.watchdog_s:
            self._tasks.append(asyncio.create_task(self._watchdog(), name="calibd-watchdog"))
        self.notifier.ready(f"consuming from {', '.join(s.name for s in self.sources)}")
        await self.stopping.wait()
        return 1 if self.fatal else 0

    # --- health -------------------------------------------------------------------------------

    async def healthy(self) -> tuple[bool, str]:
        """Alive: event loop responsive, no source task dead, database answering."""
        if self._loop_lag_s > 5:
            return False, f"event loop lagging {self._loop_lag_s:.1f} s"
        dead = [t.get_name() for t in getattr(self, "_source_tasks", []) if t.done()]
        if dead:
            return False, f"sources ended: {', '.join(dead)}"
        try:
            async with asyncio.timeout(5):
                await self.store.counts()
        except Exception as exc:
            return False, f"database: {exc}"
        return True, "ok"

    async def _healthz(self) -> tuple[int, str]:
        ok, why = await self.healthy()
        return (200 if ok else 503), why + "\n"

    async def _readyz(self) -> tuple[int, str]:
        down = [s.name for s in self.sources if not getattr(s, "connected", True)]
        if self.stopping.is_set():
            return 503, "stopping\n"
        return (503, f"not connected: {', '.join(down)}\n") if down else (200, "ready\n")

    async def live(self) -> dict[str, Any]:
        """What the dashboard's overview shows of the running daemon: outcomes since start,
        throughput, in flight, consumer lag."""
        assert self.pipeline is not None
        totals = self.pipeline.metrics.totals()
        seconds = max(time.monotonic() - self._started, 1.0)
        lag = sum(v for s in self.sources if hasattr(s, "lag") for v in s.lag().values())
        return {
            "sources": ", ".join(s.name for s in self.sources),
            "up (s)": round(seconds),
            "messages done": totals["done"],
            "dead-lettered": totals["dead"],
            "duplicates": totals["duplicate"],
            "throughput since start (done per minute)": round(60 * totals["done"] / seconds, 1),
            "in flight": self.pipeline.in_flight,
            "consumer lag (Kafka records)": lag,
        }

    async def _metrics(self) -> tuple[int, str]:
        assert self.pipeline is not None
        ok, _ = await self.healthy()
        backlog = await self.store.outbox_backlog()
        counts = await self.store.counts()
        lag = {}
        for source in self.sources:
            if hasattr(source, "lag"):
                lag.update(
                    {(("topic", t), ("partition", str(p))): v for (t, p), v in source.lag().items()}
                )
        gauges = {
            "calibd_outbox_backlog": (
                "Notifications not yet published, by sink.",
                {(("sink", k),): v for k, v in backlog.items()},
            ),
            "calibd_dead_letters": ("Dead letters in the database.", {(): counts["dead_letters"]}),
            "calibd_outbox_failed": (
                "Notifications a sink refused for good, recorded failed in the database.",
                {(): counts["outbox_failed"]},
            ),
            "calibd_in_flight": ("Messages being processed.", {(): self.pipeline.in_flight}),
            "calibd_waits_open": ("Waits pending or ready.", {(): counts["waits_pending"]}),
            "calibd_waits_overdue": (
                "Pending waits past their deadline (not yet expired).",
                {(): counts["waits_overdue"]},
            ),
            "calibd_healthy": ("1 while the health check passes, else 0.", {(): int(ok)}),
            "calibd_consumer_lag": ("Kafka records behind the high watermark.", lag),
        }
        if self.notifier.watchdog_s:
            age = time.monotonic() - (self._watchdog_pinged or self._started)
            gauges["calibd_watchdog_ping_age_seconds"] = (
                "Seconds since the last systemd watchdog ping (withheld while unhealthy).",
                {(): round(age, 1)},
            )
        return 200, self.pipeline.metrics.prometheus(gauges, self.settings.instance)

    async def _watchdog(self) -> None:
        """Ping systemd's watchdog at half its interval, only while healthy."""
        assert self.notifier.watchdog_s is not None
        interval = self.notifier.watchdog_s / 2
        while True:
            t0 = time.monotonic()
            await asyncio.sleep(interval)
            self._loop_lag_s = max(0.0, time.monotonic() - t0 - interval)
            ok, why = await self.healthy()
            if ok:
                self.notifier.watchdog()
                self._watchdog_pinged = time.monotonic()
            else:
                log.error("unhealthy: withholding the watchdog ping", reason=why)

    async def _summaries(self) -> None:
        """One line per interval: processed, failed, backlog, lag; warn about slow handlers."""
        assert self.pipeline is not None
        interval = self.settings.operations.summary_interval_s
        warned: set[int] = set()
        last = self.pipeline.metrics.totals()
        while True:
            await asyncio.sleep(interval)
            totals = self.pipeline.metrics.totals()
            backlog = await self.store.outbox_backlog()
            lag = sum(v for s in self.sources if hasattr(s, "lag") for v in s.lag().values())
            log.info(
                "summary",
                processed=totals["done"] - last["done"],
                dead_lettered=totals["dead"] - last["dead"],
                duplicates=totals["duplicate"] - last["duplicate"],
                in_flight=self.pipeline.in_flight,
                outbox_backlog=sum(backlog.values()),
                consumer_lag=lag,
                interval_s=interval,
            )
            last = totals
            now = time.perf_counter()
            for key, (name, t0, _) in list(self.pipeline.running.items()):
                if now - t0 > self.settings.operations.handler_warn_s and key not in warned:
                    warned.add(key)
                    log.warning(
                        "handler running longer than expected",
                        handler=name,
                        running_s=round(now - t0, 1),
                    )

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT stop gracefully; call before `async with` to cover start-up too."""
        if self._signals_installed:
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        self._signals_installed = True

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.stopping.is_set():
            # unfinished messages are not acknowledged: they are redone at the next start
            log.warning(
                "second signal: stopping at once, unfinished work is not committed", signal=sig.name
            )
            os._exit(128 + sig)
        log.info("stopping", signal=sig.name)
        self.stopping.set()

    def _on_fatal(self, exc: BaseException) -> None:
        """The database could not be written (a storage fault, see calibd.faults; a message's
        own content never gets here): stop without acknowledging anything more."""
        if self.fatal is None:
            log.error(
                "database write failed; stopping", error=str(exc), error_type=type(exc).__name__
            )
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
        """Stop sources, finish in-flight work (bounded by operations.shutdown_timeout_s),
        commit offsets, flush the outbox, close."""
        self.notifier.stopping()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.health is not None:
            await self.health.stop()
        if self.pipeline is not None:
            try:
                async with asyncio.timeout(self.settings.operations.shutdown_timeout_s):
                    await self.pipeline.drain()
            except TimeoutError:
                log.warning(
                    "shutdown deadline reached; unfinished messages are redone at the next start",
                    in_flight=self.pipeline.in_flight,
                )
                await self.pipeline.abandon()
        for source in self.sources:
            with contextlib.suppress(Exception):
                await source.close()
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
    from calibd.progress import progress
    from calibd.transports.replay.source import replay_file

    async with Daemon(settings) as daemon:
        assert daemon.pipeline is not None
        await daemon.recover_inbox(hold=False)  # a one-shot run holds no lease
        with progress(f"replay {path.name}", unit="messages") as bar:
            counts = await replay_file(path, daemon.pipeline, bar)
        await daemon.pipeline.settle()
        if daemon.sinks and daemon.relay is not None:
            await daemon.relay.flush(flush_timeout)
    return counts
