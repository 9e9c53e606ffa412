"""Fault injection: calibd SIGKILLed (and once SIGTERMed) and restarted under Kafka + MQTT load.

Starts Tansu and Mosquitto on loopback and calibd as a child process consuming both (the test
echo handler: one product per message; notifications to both brokers). N messages per
transport are fed in bursts while a killer stops calibd at random moments and starts it again.
At the end it prints: inputs, products, products per input, lost inputs, and notifications per
product on each sink (with the number of distinct envelope ids per product).
Usage: python bench/fault_injection.py [N_PER_TRANSPORT] [KILLS] [SEED]   (default 1000 6 1)
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
from collections import Counter, defaultdict
from pathlib import Path

import aiomqtt
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibd.events.examples import EXAMPLES
from tests.support.brokers import BrokerProcess, start_mosquitto, start_tansu
from tests.support.daemon_process import DaemonProcess


def settings(kafka: BrokerProcess, mqtt: BrokerProcess, uid: str) -> dict:
    return {
        "kafka.enabled": True,
        "kafka.bootstrap_servers": kafka.bootstrap,  # type: ignore[attr-defined]
        "kafka.group_id": f"calibd-{uid}",
        "kafka.topics": [f"acada.calibration.{uid}"],
        "kafka.products_topic": f"calibpipe.products.{uid}",
        "kafka.dlq_topic": f"calibpipe.dlq.{uid}",
        "kafka.session_timeout_ms": 6000,
        "mqtt.enabled": True,
        "mqtt.host": "127.0.0.1",
        "mqtt.port": mqtt.port,
        "mqtt.client_id": f"calibd-{uid}",
        "mqtt.topic_filters": [f"fi/{uid}/ctao/acada/#"],
        "mqtt.products_topic_prefix": f"fi/{uid}/products",
        "mqtt.dlq_topic": f"fi/{uid}/dlq",
        "pipeline.handler_modules": ["tests.support.echo_handler"],
        "pipeline.workers": 1,
        "handlers.echo_weather.cpu_seconds": 0.002,
    }


def envelope(transport: str) -> dict:
    return {**EXAMPLES["ctao.acada.weather"], "id": f"{transport}-{uuid.uuid4()}"}


class Notifications:
    """Independent subscribers on both sinks: product id -> envelope ids received."""

    def __init__(self, kafka: BrokerProcess, mqtt: BrokerProcess, uid: str) -> None:
        self.kafka, self.mqtt, self.uid = kafka, mqtt, uid
        self.seen: dict[str, defaultdict[str, list[str]]] = {
            "kafka": defaultdict(list),
            "mqtt": defaultdict(list),
        }
        self._ready = asyncio.Event()

    def _add(self, sink: str, raw: bytes) -> None:
        note = json.loads(raw)
        self.seen[sink][note["data"]["product_id"]].append(note["id"])

    async def _kafka(self) -> None:
        consumer = AIOKafkaConsumer(
            f"calibpipe.products.{self.uid}",
            bootstrap_servers=self.kafka.bootstrap,  # type: ignore[attr-defined]
            group_id=f"reader-{self.uid}",
            auto_offset_reset="earliest",
            metadata_max_age_ms=1000,
        )
        await consumer.start()
        try:
            async for record in consumer:
                self._add("kafka", record.value)
        finally:
            await consumer.stop()

    async def _mqtt(self) -> None:
        async with aiomqtt.Client("127.0.0.1", self.mqtt.port) as client:
            await client.subscribe(f"fi/{self.uid}/products/#", qos=1)
            self._ready.set()
            async for message in client.messages:
                self._add("mqtt", message.payload)

    async def wait_for(self, products: list[str], timeout: float) -> None:
        """Until every product was notified on both sinks; then the late copies' time."""
        for sink in ("kafka", "mqtt"):
            await asyncio.to_thread(
                wait_until,
                lambda s=sink: all(p in self.seen[s] for p in products),
                timeout,
                f"{sink} notifications",
            )
        await asyncio.sleep(2.0)  # late duplicate copies, if any, arrive now

    async def __aenter__(self) -> Notifications:
        self._tasks = [asyncio.create_task(self._kafka()), asyncio.create_task(self._mqtt())]
        await asyncio.wait_for(self._ready.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def feed(kafka: BrokerProcess, mqtt: BrokerProcess, uid: str, envs, bursts: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")  # type: ignore[attr-defined]
    await producer.start()
    try:
        async with aiomqtt.Client("127.0.0.1", mqtt.port) as client:
            size = max(1, len(envs) // bursts)
            for start in range(0, len(envs), size):
                for env in envs[start : start + size]:
                    payload = json.dumps(env).encode()
                    if env["id"].startswith("kafka"):
                        await producer.send(f"acada.calibration.{uid}", payload)
                    else:
                        topic = f"fi/{uid}/{env['type'].replace('.', '/')}"
                        await client.publish(topic, payload, qos=1)
                await producer.flush()
                await asyncio.sleep(0.5)
    finally:
        await producer.stop()


async def kill_and_restart(daemon: DaemonProcess, kills: int, rng: random.Random) -> list[str]:
    """Stop calibd `kills` times at random moments (one of them by SIGTERM); restart it."""
    done, graceful = [], rng.randrange(kills)
    for i in range(kills):
        await asyncio.sleep(rng.uniform(1.0, 3.0))
        sig = signal.SIGTERM if i == graceful else signal.SIGKILL
        code = await asyncio.to_thread(daemon.stop, sig, 60.0)
        expected = 0 if sig == signal.SIGTERM else -signal.SIGKILL
        if code != expected:
            raise AssertionError(f"calibd exited {code} on {sig.name}:\n{daemon.tail()}")
        done.append(sig.name)
        daemon.start()
    return done


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


async def run(
    kafka: BrokerProcess, mqtt: BrokerProcess, workdir: Path, n: int, kills: int, seed: int
) -> dict:
    """The whole experiment on running brokers; returns the figures."""
    uid, rng = uuid.uuid4().hex[:8], random.Random(seed)
    daemon = DaemonProcess(workdir / "calibd", settings(kafka, mqtt, uid))
    envs = [envelope("kafka") for _ in range(n)] + [envelope("mqtt") for _ in range(n)]
    rng.shuffle(envs)
    async with Notifications(kafka, mqtt, uid) as notes:
        daemon.start().wait_msg("mqtt connected", timeout=60)
        killer = asyncio.create_task(kill_and_restart(daemon, kills, rng))
        await feed(kafka, mqtt, uid, envs, bursts=20)
        signals = await killer

        def distinct() -> int:
            return daemon.query("SELECT COUNT(DISTINCT input_event_id) FROM products")[0][0]

        await asyncio.to_thread(wait_until, lambda: distinct() >= len(envs), 180, "products")
        products = [r[0] for r in daemon.query("SELECT id FROM products")]
        await notes.wait_for(products, 60)
        assert daemon.stop() == 0
    rows = daemon.query("SELECT input_event_id, COUNT(*) FROM products GROUP BY 1")
    per_input = {r[0]: r[1] for r in rows}
    inputs = {e["id"] for e in envs}
    return {
        "signals": dict(Counter(signals)),
        "inputs": len(inputs),
        "products": len(products),
        "products per input": dict(Counter(per_input.get(i, 0) for i in inputs)),
        "lost": len(inputs - set(per_input)),
        "unknown products": len(set(per_input) - inputs),
        **notification_figures(notes, products),
    }


def notification_figures(notes: Notifications, products: list[str]) -> dict:
    """Per sink: how many notifications each product had, and how many envelope ids."""
    out = {}
    for sink in ("kafka", "mqtt"):
        seen = notes.seen[sink]
        out[f"{sink} notifications per product"] = dict(
            Counter(len(seen.get(p, [])) for p in products)
        )
        out[f"{sink} envelope ids per product"] = dict(
            Counter(len(set(seen.get(p, []))) for p in products)
        )
    return out


def main() -> None:
    n, kills, seed = (int(a) for a in (sys.argv[1:] + ["1000", "6", "1"][len(sys.argv) - 1 :]))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        kafka, mqtt = start_tansu(work), start_mosquitto(work)
        try:
            started = time.perf_counter()
            figures = asyncio.run(run(kafka, mqtt, work, n, kills, seed))
        finally:
            kafka.stop()
            mqtt.stop()
    figures["wall time s"] = round(time.perf_counter() - started, 1)
    for key, value in figures.items():
        print(f"{key:32} {value}")


if __name__ == "__main__":
    main()
