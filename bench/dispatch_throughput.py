"""Dispatch throughput on loopback Kafka: calibd (no-op handler) against a raw aiokafka loop.

Both read the same N pre-produced messages from one topic with fresh consumer groups; each
is timed from its first record to its last (calibd: to the last message committed to SQLite,
i.e. validated, deduplicated, dispatched and recorded in the ledger). With `--product` the
handler makes one product per message and the outbox publishes each notification to Kafka
(the whole product path on a pre-filled topic). CPU is this process's (all its threads, so
aiosqlite's too) over the same window; calibd's overhead per message is its CPU per message
less the raw loop's, and split by thread (the event loop's and the database threads').
`--profile` prints calibd's hottest functions (cProfile; the figures of
a profiled run are slower). Prints figures; it is not a test.
Usage: python bench/dispatch_throughput.py [N] [--product] [--profile]
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import pstats
import resource
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibd.config import load_settings
from calibd.daemon import Daemon
from calibd.events.examples import EXAMPLES
from calibd.logs import configure_logging
from calibd.registry import HandlerResult, ProductDraft, Registry
from tests.support.brokers import start_tansu


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each thread of this process, by its Python name and id (/proc)."""
    out, tick = {}, os.sysconf("SC_CLK_TCK")
    names = {t.native_id: t.name.split(" (")[0] for t in threading.enumerate()}
    for tid in os.listdir("/proc/self/task"):
        name = names.get(int(tid), "other")
        try:
            with open(f"/proc/self/task/{tid}/stat") as fh:
                fields = fh.read().rpartition(")")[2].split()
        except OSError:  # the thread ended
            continue
        out[f"{name}:{tid}"] = (int(fields[11]) + int(fields[12])) / tick
    return out


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def produce(bootstrap: str, topic: str, n: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks=1)
    await producer.start()
    base = EXAMPLES["ctao.acada.weather"]
    futures = [
        await producer.send(topic, json.dumps({**base, "id": str(uuid.uuid4())}).encode())
        for _ in range(n)
    ]
    await asyncio.gather(*futures)
    await producer.stop()


async def raw_loop(bootstrap: str, topic: str, n: int) -> tuple[float, float]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen, first = 0, None
    while seen < n:
        batch = await consumer.getmany(timeout_ms=500, max_records=500)
        for records in batch.values():
            if records and first is None:
                first, cpu0 = time.perf_counter(), time.process_time()
            seen += len(records)
    elapsed, cpu = time.perf_counter() - first, time.process_time() - cpu0
    await consumer.commit()
    await consumer.stop()
    return elapsed, cpu


async def calibd_run(
    bootstrap: str, topic: str, n: int, workdir: Path, product: bool = False, profile=None
) -> tuple[float, float, dict[str, float]]:
    registry = Registry()

    async def noop(event, ctx) -> HandlerResult:
        if not product:
            return HandlerResult()
        draft = ProductDraft(
            product_type="bench", valid_from=datetime.now(UTC), summary={"ok": True}
        )
        return HandlerResult(products=[draft])

    registry.register("ctao.acada.weather", noop)
    settings = load_settings(
        None,
        {
            "data_dir": str(workdir),
            "kafka": {
                "enabled": True,
                "bootstrap_servers": bootstrap,
                "topics": [topic],
                "group_id": f"calibd-{uuid.uuid4()}",
                "publish": product,
                "products_topic": f"{topic}.products",
            },
        },
    )
    async with Daemon(settings, registry=registry) as daemon:
        runner = asyncio.create_task(daemon.run())
        pipeline = daemon.pipeline
        while pipeline.stats.total() == 0 and pipeline.in_flight == 0:
            await asyncio.sleep(0.001)
        threads0 = thread_cpu()
        first, cpu0 = time.perf_counter(), time.process_time()
        if profile is not None:
            profile.enable()
        while pipeline.stats["done"] < n:
            await asyncio.sleep(0.005)
        elapsed, cpu = time.perf_counter() - first, time.process_time() - cpu0
        threads = {k: v - threads0.get(k, 0.0) for k, v in thread_cpu().items()}
        if profile is not None:
            profile.disable()
        daemon.stopping.set()
        await runner
    return elapsed, cpu, threads


def ledger_floor(db: Path, n: int, batch: int = 150) -> float:
    """CPU seconds per row of inserting n more ledger rows with random (source, id) keys into
    calibd's own database with sqlite3 alone, `batch` rows per transaction (WAL, synchronous
    NORMAL, as calibd writes): the floor of the ledger row in the figures above."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    rows = [
        ("bench", str(uuid.uuid4()), "ctao.acada.weather", "done", "kafka", "[]", "t", "d" * 40)
        for _ in range(n)
    ]
    sql = (
        "INSERT INTO processed (source, event_id, event_type, status, transport, product_ids, "
        "finished_at, digest) VALUES (?,?,?,?,?,?,?,?)"
    )
    cpu0 = time.process_time()
    for i in range(0, n, batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows[i : i + batch])
        conn.execute("COMMIT")
    cpu = time.process_time() - cpu0
    conn.close()
    return cpu / n


async def main(n: int, product: bool, profiling: bool) -> None:
    configure_logging("json", "warning")
    with tempfile.TemporaryDirectory() as tmp:
        broker = start_tansu(Path(tmp))
        try:
            topic = f"bench.{uuid.uuid4().hex[:8]}"
            await produce(broker.bootstrap, topic, n)
            rss0 = rss_mb()
            raw, raw_cpu = await raw_loop(broker.bootstrap, topic, n)
            rss_raw = rss_mb()
            profile = cProfile.Profile() if profiling else None
            cal, cal_cpu, threads = await calibd_run(
                broker.bootstrap, topic, n, Path(tmp) / "calibd", product, profile
            )
            rss_cal = rss_mb()
            db = (Path(tmp) / "calibd" / "calibd.sqlite").stat().st_size
            floor = ledger_floor(Path(tmp) / "calibd" / "calibd.sqlite", n)
        finally:
            broker.stop()
    print(f"messages                 {n}")
    print(f"raw aiokafka loop        {n / raw:10.0f} msg/s   ({raw:.2f} s)")
    what = "product + notification" if product else "no-op handler"
    print(f"calibd {what:<22}{n / cal:10.0f} msg/s   ({cal:.2f} s)")
    print(f"ratio calibd / raw       {raw / cal:10.1%}   (target >= 10 %, >= 25,000 msg/s)")
    print(f"CPU per message, raw     {raw_cpu / n * 1e6:10.1f} us")
    print(f"CPU per message, calibd  {cal_cpu / n * 1e6:10.1f} us")
    overhead = (cal_cpu - raw_cpu) / n * 1e6
    print(f"calibd overhead          {overhead:10.1f} us/msg (target <= 50 us, no-op handler)")
    busy = ", ".join(
        f"{k} {v / n * 1e6:.1f}" for k, v in sorted(threads.items(), key=lambda kv: -kv[1]) if v
    )
    print(f"CPU per message by thread {busy} us (Thread-N: aiosqlite's)")
    print(f"sqlite3 ledger row alone {floor * 1e6:10.1f} us (random keys, same database)")
    print(
        f"peak RSS                 {rss_cal:10.1f} MB  (after produce {rss0:.1f}, "
        f"after raw {rss_raw:.1f})"
    )
    print(f"database size            {db / 2**20:10.1f} MB")
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 20_000
    asyncio.run(main(n, "--product" in sys.argv, "--profile" in sys.argv))
