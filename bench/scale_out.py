"""Scale-out: several `calibd run` instances in one Kafka consumer group and one MQTT shared
subscription on one PostgreSQL database, one of them SIGKILLed and restarted under load.

Starts Tansu, Mosquitto and a private PostgreSQL cluster on loopback and I calibd instances.
N weather messages per transport (the test echo handler: one product each) are fed in bursts
with W flat-field runs and W FRAM-downs (calibd's own handlers, see bench/waiting_inputs.py);
once all of those wait, their pedestals and QualPipe's answers follow. One instance is
SIGKILLed K times and started again (the last time while the waits are resumed). Prints:
inputs, products per input, lost inputs, notifications and envelope ids per product on each
sink, products made by each instance, the rebalances logged, the seconds from the first
message to the last product, the waits per waiting input and their statuses, the reports,
and whether each calibration used its own telescope's pedestal.
Usage: python bench/scale_out.py [N_PER_TRANSPORT] [INSTANCES] [KILLS] [SEED] [W]
(default 1000 3 2 1 10)

`--throughput [N_PER_TRANSPORT]` instead times the product path with no kills, the same
messages in the same run: one instance on SQLite, then 1, 2 and 3 instances on PostgreSQL,
and prints messages per second and the ratios to one SQLite instance.
"""

from __future__ import annotations

import asyncio
import json
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
from bench.waiting_inputs import answers, camera_runs, fram_downs, wait_figures
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


def waiting_settings(root: Path, uid: str) -> dict:
    """With the waiting inputs: calibd's own handlers beside the weather echo, the shared data
    root, per-run quality and report topics, and claims that expire in 10 s (a SIGKILLed
    holder's waits and notifications are taken over within the run)."""
    return {
        "pipeline.handler_modules": ["calibd.handlers", "tests.support.echo_weather_handler"],
        "data_roots": [str(root)],
        "kafka.quality_topic": f"calibpipe.quality.{uid}",
        "kafka.reports_topic": f"calibpipe.reports.{uid}",
        "mqtt.quality_topic": f"fi/{uid}/quality",
        "mqtt.reports_topic": f"fi/{uid}/reports",
        "pipeline.wait_claim_lease_s": 10.0,
        "outbox.claim_lease_s": 10.0,
    }


async def kill_and_restart(
    daemon: DaemonProcess, moments: list[asyncio.Event], rng: random.Random
) -> int:
    """SIGKILL and restart `daemon` once per moment, 2-4 s after it is set."""
    for moment in moments:
        await moment.wait()
        await asyncio.sleep(rng.uniform(2.0, 4.0))
        code = await asyncio.to_thread(daemon.stop, signal.SIGKILL, 60.0)
        if code != -signal.SIGKILL:
            raise AssertionError(f"calibd exited {code} on SIGKILL:\n{daemon.tail()}")
        daemon.start()
    return len(moments)


async def run(
    kafka: BrokerProcess,
    mqtt: BrokerProcess,
    postgres: PostgresCluster,
    workdir: Path,
    n: int,
    instances: int,
    kills: int,
    seed: int,
    waiting: int = 0,
) -> dict:
    """The whole experiment on running brokers and database; returns the figures.

    With `waiting` > 0, that many flat-field runs (each of its own telescope) and FRAM-downs
    go first; the pedestals the flat-fields wait for, and QualPipe's answers to the FRAM-down
    quality requests, only once every one of them is waiting. The last SIGKILL then comes
    2-4 s after those are fed, while the waits are resumed."""
    uid, rng = uuid.uuid4().hex[:8], random.Random(seed)
    db = postgres.create_database("scale")
    url = postgres.url(db)
    extra = waiting_settings(workdir / "acada", uid) if waiting else {}
    daemons = [
        DaemonProcess(
            workdir / f"i{k}", {**instance_settings(kafka, mqtt, uid, url, f"i{k}"), **extra}
        )
        for k in range(instances)
    ]
    envs = [envelope("kafka") for _ in range(n)] + [envelope("mqtt") for _ in range(n)]
    rng.shuffle(envs)
    flatfields, pedestals = camera_runs(workdir / "acada", waiting) if waiting else ([], [])
    downs = fram_downs(waiting)
    inputs = [*flatfields, *downs, *envs, *pedestals]

    def psql(sql: str) -> list[str]:
        return postgres.psql(sql, db).splitlines()

    def count(sql: str) -> int:
        return int(psql(sql)[0])

    waits_sql = "FROM waits WHERE kind <> 'retry'"
    moments = [asyncio.Event() for _ in range(kills)]
    for m in moments[: kills - 1 if waiting else kills]:
        m.set()
    async with Notifications(kafka, mqtt, uid) as notes:
        for d in daemons:
            d.start().wait_msg("mqtt connected", timeout=60)
        started = time.perf_counter()
        killer = asyncio.create_task(kill_and_restart(daemons[0], moments, rng))
        await feed(kafka, mqtt, uid, [*flatfields, *downs, *envs], bursts=20)
        if waiting:
            await asyncio.to_thread(
                wait_until,
                lambda: count(f"SELECT count(*) {waits_sql}") >= 2 * waiting,
                240,
                "the flat-field and FRAM-down waits",
            )
            rows = psql(
                "SELECT json_build_object('kind', kind, 'status', status, 'key', key, "
                f"'state', state) {waits_sql} AND kind = 'assessment'"
            )
            qualpipe = answers([json.loads(r) for r in rows])
            inputs += qualpipe
            await feed(kafka, mqtt, uid, [*pedestals, *qualpipe], bursts=1)
            moments[-1].set()
        killed = await killer

        def distinct() -> int:
            return count("SELECT count(DISTINCT input_event_id) FROM products")

        await asyncio.to_thread(wait_until, lambda: distinct() >= len(inputs), 240, "products")
        await asyncio.to_thread(
            wait_until,
            lambda: count(f"SELECT count(*) {waits_sql} AND status IN ('pending', 'ready')") == 0,
            120,
            "every wait completed",
        )
        seconds = time.perf_counter() - started
        products = psql("SELECT id FROM products")
        await notes.wait_for(products, 90)
        for d in daemons:
            assert d.stop() == 0, d.tail()
    rows = psql("SELECT input_event_id, count(*) FROM products GROUP BY 1")
    per_input = dict(line.split("|") for line in rows)
    by_instance = {
        d.settings["instance"]: sum(
            1 for line in d.log_lines(every_start=True) if line.get("msg") == "message processed"
        )
        for d in daemons
    }
    ids = {e["id"] for e in inputs}
    rebalances = sum(
        1
        for d in daemons
        for line in d.log_lines(every_start=True)
        if "assigned" in str(line.get("msg", ""))
    )
    figures = {
        "instances": instances,
        "SIGKILLs": killed,
        "inputs": len(ids),
        "products": len(products),
        "products per input": dict(Counter(int(per_input.get(i, 0)) for i in ids)),
        "lost": len(ids - set(per_input)),
        **notification_figures(notes, products),
        "partition assignments logged": rebalances,
        "messages processed per instance, every start (logged)": by_instance,
        "seconds": round(seconds, 1),
    }
    if waiting:
        figures |= waiting_checks(psql, waits_sql)
    return figures


def waiting_checks(psql, waits_sql: str) -> dict:
    """What the waiting inputs left: the waits, the reports, and the calibrations' pedestals."""
    waits = [line.split("|") for line in psql(f"SELECT handler, event_id, status {waits_sql}")]
    reports = psql(
        "SELECT convert_from(envelope, 'UTF8')::json->'data'->>'report_type' FROM outbox "
        "WHERE event_type = 'ctao.calibpipe.report'"
    )
    pairs = psql(
        "SELECT c.tel_id = p.tel_id FROM products c JOIN products p "
        "ON p.id = c.payload::json->>'pedestal_product_id' "
        "WHERE c.product_type = 'camera_calibration'"
    )
    return {
        **wait_figures([(h, e, s) for h, e, s in waits]),
        "reports by type": dict(Counter(reports)),
        "calibrations paired with their telescope's pedestal": dict(Counter(pairs)),
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
    args = [int(a) for a in sys.argv[1:]] + [1000, 3, 2, 1, 10][len(sys.argv) - 1 :]
    n, instances, kills, seed, waiting = args[:5]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        kafka, mqtt, postgres = start_tansu(work), start_mosquitto(work), PostgresCluster().start()
        try:
            figures = asyncio.run(
                run(kafka, mqtt, postgres, work, n, instances, kills, seed, waiting)
            )
        finally:
            for service in (kafka, mqtt, postgres):
                service.stop()
    for key, value in figures.items():
        print(f"{key:<32} {value}")


if __name__ == "__main__":
    main()
