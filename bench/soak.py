"""Soak: N messages through Kafka into calibd with a light handler making one product each.

Prints throughput, p50/p99 latency (envelope `time` set at produce -> product created),
the daemon's RSS at start, along the run and at the end, and the database size. The producer
runs in a child process, so its memory is not counted. Not a test.
Usage: python bench/soak.py [N] [RATE]   (default 100,000 messages offered at 800/s, below
the product path's capacity, so latency is not queueing in Kafka)
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibd.config import load_settings
from calibd.daemon import Daemon
from calibd.events.examples import EXAMPLES
from calibd.logs import configure_logging
from calibd.registry import HandlerResult, ProductDraft, Registry
from calibd.store import parse_time
from tests.support.brokers import start_tansu


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def produce(bootstrap: str, topic: str, n: int, rate_per_s: float) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    base = EXAMPLES["ctao.acada.weather"]
    t0 = time.perf_counter()
    for i in range(n):
        now = datetime.now(UTC).isoformat()
        env = {**base, "id": str(uuid.uuid4()), "time": now}
        await producer.send(topic, json.dumps(env).encode())
        if i % 500 == 0:  # pace the producer so latency means something
            ahead = i / rate_per_s - (time.perf_counter() - t0)
            if ahead > 0:
                await asyncio.sleep(ahead)
    await producer.flush()
    await producer.stop()


def produce_in_child(bootstrap: str, topic: str, n: int, rate: float) -> None:
    asyncio.run(produce(bootstrap, topic, n, rate))


async def main(n: int, rate: float) -> None:
    configure_logging("json", "warning")
    registry = Registry()

    async def light(event, ctx) -> HandlerResult:
        return HandlerResult(
            products=[
                ProductDraft(
                    product_type="soak",
                    valid_from=event.time,
                    payload={"pressure_hpa": event.data.ground.pressure_hpa},
                    summary={"ok": True},
                )
            ]
        )

    registry.register("ctao.acada.weather", light)
    with tempfile.TemporaryDirectory() as tmp:
        broker = start_tansu(Path(tmp))
        topic = f"soak.{uuid.uuid4().hex[:8]}"
        settings = load_settings(
            None,
            {
                "data_dir": str(Path(tmp) / "calibd"),
                "kafka": {
                    "enabled": True,
                    "bootstrap_servers": broker.bootstrap,
                    "topics": [topic],
                    "products_topic": f"{topic}.products",
                },
            },
        )
        try:
            async with Daemon(settings, registry=registry) as daemon:
                runner = asyncio.create_task(daemon.run())
                # produce only once the consumer group has joined
                while not any(getattr(s, "assigned", None) for s in daemon.sources):
                    await asyncio.sleep(0.1)
                rss_start = rss_mb()
                t0 = time.perf_counter()
                child = multiprocessing.get_context("spawn").Process(
                    target=produce_in_child, args=(broker.bootstrap, topic, n, rate)
                )
                child.start()
                samples, next_mark = [], n // 10
                while (done := daemon.pipeline.stats["done"]) < n:
                    if done >= next_mark:
                        samples.append((done, round(rss_mb(), 1)))
                        next_mark += n // 10
                    await asyncio.sleep(0.2)
                elapsed = time.perf_counter() - t0
                await asyncio.to_thread(child.join)
                await daemon.relay.flush(60)
                rss_end = rss_mb()
                rows = await daemon.store.r.execute_fetchall(
                    "SELECT created_at, valid_from FROM products"
                )
                daemon.stopping.set()
                await runner
            by_time = sorted(
                (parse_time(v), (parse_time(c) - parse_time(v)).total_seconds()) for c, v in rows
            )
            lat = sorted(x for _, x in by_time)
            late = sorted(x for _, x in by_time[len(by_time) // 10 :])
            db = sum(f.stat().st_size for f in (Path(tmp) / "calibd").glob("calibd.sqlite*"))
        finally:
            broker.stop()
    print(f"messages            {n}  (offered at {rate:.0f}/s)")
    print(
        f"throughput          {n / elapsed:8.0f} msg/s  ({elapsed:.1f} s, products + outbox + "
        "Kafka notifications)"
    )
    print(
        f"latency p50 / p99   {lat[len(lat) // 2] * 1e3:8.1f} / "
        f"{lat[int(len(lat) * 0.99)] * 1e3:.1f} ms  (produce -> product committed)"
    )
    print(
        f"  after the first 10 %{late[len(late) // 2] * 1e3:8.1f} / "
        f"{late[int(len(late) * 0.99)] * 1e3:.1f} ms  (without the start-up)"
    )
    warm = samples[0][1] if samples else rss_start
    print(
        f"RSS start / end     {rss_start:8.1f} / {rss_end:.1f} MB  "
        f"(growth {100 * (rss_end / rss_start - 1):+.1f} % from an idle start)"
    )
    print(
        f"RSS after warm-up   {warm:8.1f} -> {rss_end:.1f} MB  "
        f"(growth {100 * (rss_end / warm - 1):+.1f} % over the last 90 %, target < 10 %)"
    )
    if len(samples) >= 4:
        half = samples[len(samples) // 2 - 1][1]
        print(
            f"RSS second half     {half:8.1f} -> {rss_end:.1f} MB  "
            f"(growth {100 * (rss_end / half - 1):+.1f} %)"
        )
    print(f"RSS along the run   {samples}  (messages done, MB)")
    print(f"database            {db / 2**20:8.1f} MB")


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    asyncio.run(main(count, float(sys.argv[2]) if len(sys.argv) > 2 else 800.0))
