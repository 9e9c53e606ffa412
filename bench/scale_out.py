"""Scale-out: several `calibd run` instances in one Kafka consumer group and one MQTT shared
subscription on one PostgreSQL database, one of them SIGKILLed and restarted under load.

Starts Tansu, Mosquitto and a private PostgreSQL cluster on loopback and I calibd instances
(the test echo handler: one product per message, notifications to both brokers). N messages
per transport are fed in bursts while one instance is SIGKILLed K times at random moments and
started again. Prints: inputs, products per input, lost inputs, notifications and envelope ids
per product on each sink, products made by each instance, the rebalances logged, and the
seconds from the first message to the last product.
Usage: python bench/scale_out.py [N_PER_TRANSPORT] [INSTANCES] [KILLS] [SEED]   (1000 3 2 1)

`--throughput [N_PER_TRANSPORT]` instead times the product path with no kills, the same
messages in the same run: one instance on SQLite, then 1, 2 and 3 instances on PostgreSQL,
and prints messages per second and the ratios to one SQLite instance.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fault_injection import (
    Notifications,
    envelope,
    feed,
    notification_figures,
    settings,
    wait_until,
)
from tests.support.brokers import BrokerProcess, start_mosquitto, start_tansu
from tests.support.daemon_process import DaemonProcess
from tests.support.postgres import PostgresCluster


def instance_settings(kafka, mqtt, uid: str, url: str, name: str) -> dict:
    return {
        **settings(kafka, mqtt, uid),
        "database.url": url,
        "instance": name,
        "mqtt.client_id": f"calibd-{uid}-{name}",
        "mqtt.share_group": f"calibd-{uid}",
    }


async def kill_and_restart(daemon: DaemonProcess, kills: int, rng: random.Random) -> int:
    for _ in range(kills):
        await asyncio.sleep(rng.uniform(2.0, 4.0))
        code = await asyncio.to_thread(daemon.stop, signal.SIGKILL, 60.0)
        if code != -signal.SIGKILL:
            raise AssertionError(f"calibd exited {code} on SIGKILL:\n{daemon.tail()}")
        daemon.start()
    return kills


async def run(
    kafka: BrokerProcess,
    mqtt: BrokerProcess,
    postgres: PostgresCluster,
    workdir: Path,
    n: int,
    instances: int,
    kills: int,
    seed: int,
) -> dict:
    """The whole experiment on running brokers and database; returns the figures."""
    uid, rng = uuid.uuid4().hex[:8], random.Random(seed)
    db = postgres.create_database("scale")
    url = postgres.url(db)
    daemons = [
        DaemonProcess(workdir / f"i{k}", instance_settings(kafka, mqtt, uid, url, f"i{k}"))
        for k in range(instances)
    ]
    envs = [envelope("kafka") for _ in range(n)] + [envelope("mqtt") for _ in range(n)]
    rng.shuffle(envs)

    def psql(sql: str) -> list[str]:
        return postgres.psql(sql, db).splitlines()

    async with Notifications(kafka, mqtt, uid) as notes:
        for d in daemons:
            d.start().wait_msg("mqtt connected", timeout=60)
        started = time.perf_counter()
        killer = asyncio.create_task(kill_and_restart(daemons[0], kills, rng))
        await feed(kafka, mqtt, uid, envs, bursts=20)
        killed = await killer

        def distinct() -> int:
            return int(psql("SELECT count(DISTINCT input_event_id) FROM products")[0])

        await asyncio.to_thread(wait_until, lambda: distinct() >= len(envs), 240, "products")
        seconds = time.perf_counter() - started
        products = psql("SELECT id FROM products")
        await notes.wait_for(products, 90)
        for d in daemons:
            assert d.stop() == 0, d.tail()
    rows = psql("SELECT input_event_id, count(*) FROM products GROUP BY 1")
    per_input = dict(line.split("|") for line in rows)
    by_instance = {
        d.settings["instance"]: sum(
            1 for line in d.log_lines() if line.get("msg") == "message processed"
        )
        for d in daemons
    }
    inputs = {e["id"] for e in envs}
    rebalances = sum(
        1 for d in daemons for line in d.log_lines() if "assigned" in str(line.get("msg", ""))
    )
    return {
        "instances": instances,
        "SIGKILLs": killed,
        "inputs": len(inputs),
        "products": len(products),
        "products per input": dict(Counter(int(per_input.get(i, 0)) for i in inputs)),
        "lost": len(inputs - set(per_input)),
        **notification_figures(notes, products),
        "partition assignments logged": rebalances,
        "messages processed per instance (logged)": by_instance,
        "seconds": round(seconds, 1),
    }


async def throughput(kafka, mqtt, postgres, workdir: Path, n: int) -> list[tuple[str, float]]:
    """Messages per second of the product path (first message to last product), per setup."""
    out = []
    for label, instances, pg in (
        ("1 on SQLite", 1, False),
        ("1 on PostgreSQL", 1, True),
        ("2 on PostgreSQL", 2, True),
        ("3 on PostgreSQL", 3, True),
    ):
        uid = uuid.uuid4().hex[:8]
        url = postgres.url(postgres.create_database("tp")) if pg else None
        daemons = []
        for k in range(instances):
            s = instance_settings(kafka, mqtt, uid, url or "", f"i{k}")
            if url is None:
                s.pop("database.url")
            daemons.append(DaemonProcess(workdir / f"{uid}-{k}", s))
        envs = [envelope("kafka") for _ in range(n)] + [envelope("mqtt") for _ in range(n)]

        def done(url=url, daemons=daemons) -> int:
            if url is None:
                return daemons[0].query("SELECT COUNT(*) FROM products")[0][0]
            db = url.rsplit("/", 1)[1]
            return int(postgres.psql("SELECT count(*) FROM products", db))

        try:
            for d in daemons:
                d.start().wait_msg("mqtt connected", timeout=60)
            await asyncio.sleep(8.0)  # the consumer group settles (Tansu: seconds per join)
            started = time.perf_counter()
            await feed(kafka, mqtt, uid, envs, bursts=1)
            total = len(envs)
            await asyncio.to_thread(wait_until, lambda t=total: done() >= t, 300, "products")
            out.append((label, len(envs) / (time.perf_counter() - started)))
        finally:
            for d in daemons:
                d.stop()
    return out


def main() -> None:
    if sys.argv[1:2] == ["--throughput"]:
        n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            kafka, mqtt, postgres = (
                start_tansu(work),
                start_mosquitto(work),
                PostgresCluster().start(),
            )
            try:
                rates = asyncio.run(throughput(kafka, mqtt, postgres, work, n))
            finally:
                for service in (kafka, mqtt, postgres):
                    service.stop()
        base = rates[0][1]
        for label, rate in rates:
            print(f"{label:<18} {rate:8.0f} msg/s   {rate / base:5.2f}x one SQLite instance")
        return
    args = [int(a) for a in sys.argv[1:]] + [1000, 3, 2, 1][len(sys.argv) - 1 :]
    n, instances, kills, seed = args[:4]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        kafka, mqtt, postgres = start_tansu(work), start_mosquitto(work), PostgresCluster().start()
        try:
            figures = asyncio.run(run(kafka, mqtt, postgres, work, n, instances, kills, seed))
        finally:
            for service in (kafka, mqtt, postgres):
                service.stop()
    for key, value in figures.items():
        print(f"{key:<32} {value}")


if __name__ == "__main__":
    main()
