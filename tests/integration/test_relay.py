"""The outbox relay through real brokers: each notification once without a fault; a
notification a sink can never take is recorded failed and the others flow on."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.conftest import example
from tests.integration.kafka_io import consume
from tests.integration.test_kafka_path import assigned, kafka_settings
from tests.integration.test_mqtt_and_triggers import Listener
from tests.support.brokers import free_port
from tests.support.daemon_process import DaemonProcess

pytestmark = pytest.mark.integration


async def produce_fast(bootstrap: str, topic: str, values: list[bytes]) -> None:
    """Send without waiting for each acknowledgement, as a busy producer does."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    try:
        futures = [await producer.send(topic, v) for v in values]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str, at_least: int, idle_s: float = 5.0) -> list:
    """Every record of `topic`: at least `at_least`, then until none came for `idle_s`."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(120):
            idle_since = asyncio.get_running_loop().time()
            while len(values) < at_least or asyncio.get_running_loop().time() - idle_since < idle_s:
                batch = await consumer.getmany(timeout_ms=500)
                if batch:
                    idle_since = asyncio.get_running_loop().time()
                values.extend(r.value for records in batch.values() for r in records)
    finally:
        await consumer.stop()
    return values


async def scrape(port: int, stop: asyncio.Event) -> int:
    """An operator's Prometheus scraping /metrics as fast as it answers; returns the count."""
    done = 0
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.write(b"GET /metrics HTTP/1.0\r\n\r\n")
        await writer.drain()
        done += b"calibd_outbox_backlog" in await reader.read()
        writer.close()
    return done


async def test_fault_free_run_publishes_each_notification_exactly_once(kafka, mqtt, tmp_path, uid):
    """500 messages, two sinks, /metrics scraped meanwhile (more readers on the shared read
    connection): each notification is published once per sink, every delivery in 1 attempt."""
    n = 500
    port = free_port()
    settings = kafka_settings(
        kafka,
        uid,
        **{
            "mqtt.enabled": True,
            "mqtt.consume": False,
            "mqtt.host": "127.0.0.1",
            "mqtt.port": mqtt.port,
            "mqtt.client_id": f"calibd-{uid}",
            "mqtt.products_topic_prefix": f"test/{uid}/products",
            "operations.http_port": port,
            "outbox.batch_size": 5,  # many relay rounds, each a chance to read stale rows
        },
    )
    daemon = DaemonProcess(tmp_path / "calibd", settings).start()
    stop_scraping = asyncio.Event()
    scraper = asyncio.create_task(scrape(port, stop_scraping))
    try:
        daemon.wait_log(assigned, what="partition assignment")
        async with Listener(mqtt, f"test/{uid}/products/#") as listener:
            envs = [json.dumps(example("ctao.acada.weather")).encode() for _ in range(n)]
            await produce_fast(kafka.bootstrap, f"acada.calibration.{uid}", envs)
            await asyncio.to_thread(  # in a thread: the scraper and the listener go on meanwhile
                daemon.wait_query,
                "SELECT COUNT(*) FROM outbox_deliveries WHERE delivered_at IS NULL",
                lambda r: r[0][0] == 0 and len(daemon.query("SELECT id FROM products")) == n,
                timeout=120,
            )
            await listener.wait(n, timeout=60)
            await asyncio.sleep(2)  # a second copy, were there one, would come now
            mqtt_ids = Counter(note["id"] for _, note in listener.messages)
        notes = await read_all(kafka.bootstrap, f"calibpipe.products.{uid}", n)
    finally:
        stop_scraping.set()
        scrapes = await scraper
        assert daemon.stop() == 0
    assert scrapes > 10
    kafka_ids = Counter(json.loads(value)["id"] for value in notes)
    twice = {k: c for k, c in kafka_ids.items() if c > 1}
    assert len(kafka_ids) == n and not twice, f"{len(twice)} of {n} published more than once"
    assert len(mqtt_ids) == n and set(mqtt_ids.values()) == {1}
    rows = daemon.query("SELECT sink, attempts, last_error, delivered_at FROM outbox_deliveries")
    assert len(rows) == 2 * n
    assert {(r["attempts"], r["last_error"]) for r in rows} == {(1, None)}
    assert all(r["delivered_at"] for r in rows)


async def produce_large(bootstrap: str, topic: str, values: list[bytes]) -> None:
    """An ordinary producer allowed records up to 4 MiB (calibd takes up to 16 MiB)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=4 << 20)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def metrics_text(port: int) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.0\r\n\r\n")
    await writer.drain()
    body = (await reader.read()).decode()
    writer.close()
    return body


async def test_a_notification_kafka_refuses_is_recorded_and_the_others_flow(
    kafka, mqtt, tmp_path, uid
):
    """A 1.1 MB malformed input (its dead-letter notice is a bounded excerpt), a product whose
    notification is over the producer's 1 MiB request limit, then 20 valid messages: the 20
    notifications and the dead-letter notice arrive; the oversized one is recorded failed for
    Kafka with its reason, counted in /metrics and logged once, and still delivered over MQTT,
    which takes it; the daemon stops cleanly."""
    port = free_port()
    settings = kafka_settings(
        kafka,
        uid,
        **{
            "mqtt.enabled": True,
            "mqtt.consume": False,
            "mqtt.host": "127.0.0.1",
            "mqtt.port": mqtt.port,
            "mqtt.client_id": f"calibd-{uid}",
            "mqtt.products_topic_prefix": f"test/{uid}/products",
            "handlers.echo_trigger_rates.summary_bytes": 1_200_000,
            "operations.http_port": port,
            "instance": "relay-1",
            "outbox.retry_max_s": 1.0,
        },
    )
    big_input = b'{"specversion": "1.0", "oops": "' + b"y" * 1_100_000 + b'"'  # not JSON
    oversized = example("ctao.acada.trigger_rates")
    valid = [example("ctao.acada.weather") for _ in range(20)]
    daemon = DaemonProcess(tmp_path / "calibd", settings).start()
    try:
        daemon.wait_log(assigned, what="partition assignment")
        async with Listener(mqtt, f"test/{uid}/products/#") as listener:
            await produce_large(
                kafka.bootstrap,
                f"acada.calibration.{uid}",
                [big_input, json.dumps(oversized).encode()]
                + [json.dumps(e).encode() for e in valid],
            )
            notes = await consume(kafka.bootstrap, f"calibpipe.products.{uid}", 20, timeout=60)
            over_mqtt = await listener.wait(21)
        (notice,) = await consume(kafka.bootstrap, f"calibpipe.dlq.{uid}", 1, timeout=30)
        refused = await asyncio.to_thread(
            daemon.wait_query,
            "SELECT d.sink, d.attempts, d.last_error, d.failed_at, d.delivered_at, o.event_type "
            "FROM outbox_deliveries d JOIN outbox o USING (event_id) "
            "WHERE d.failed_at IS NOT NULL",
            lambda r: len(r) == 1,
        )
        await asyncio.to_thread(
            daemon.wait_query,
            "SELECT COUNT(*) FROM outbox_deliveries WHERE delivered_at IS NULL "
            "AND failed_at IS NULL",
            lambda r: r[0][0] == 0,
        )
        metrics = await metrics_text(port)
        with pytest.raises(TimeoutError):  # nothing else: the refused one is not retried
            await consume(kafka.bootstrap, f"calibpipe.products.{uid}", 21, timeout=5)
    finally:
        assert daemon.stop() == 0
    products = daemon.query("SELECT id, input_event_id FROM products")
    by_input = {p["input_event_id"]: p["id"] for p in products}
    assert sorted(n["value"]["data"]["product_id"] for n in notes) == sorted(
        by_input[e["id"]] for e in valid
    )
    row = refused[0]
    assert row["sink"] == "kafka" and row["event_type"] == "ctao.calibpipe.calibration_ready"
    assert {n["data"]["product_id"] for _, n in over_mqtt} == set(by_input.values())
    assert row["delivered_at"] is None and row["attempts"] == 1
    assert row["last_error"].startswith("MessageSizeTooLargeError")
    assert (
        'calibd_notifications_refused_total{calibd_instance="relay-1",sink="kafka",'
        'type="ctao.calibpipe.calibration_ready"} 1' in metrics
    )
    assert '\ncalibd_outbox_failed{calibd_instance="relay-1"} 1\n' in metrics
    alerts = [e for e in daemon.log_lines() if e.get("msg", "").startswith("notification refused")]
    assert len(alerts) == 1 and alerts[0]["level"] == "error"
    assert not [e for e in daemon.log_lines() if e.get("msg", "").startswith("sink unavailable")]
    (dead,) = daemon.query("SELECT id, reason, length(payload) AS size FROM dead_letters")
    data = notice["value"]["data"]
    assert data["dead_letter_id"] == dead["id"] and data["reason"] == dead["reason"]
    assert dead["size"] == data["payload_bytes"] == len(big_input)
    assert data["payload_truncated"] is True
    assert data["payload"].encode() == big_input[: len(data["payload"].encode())]
    assert len(json.dumps(notice["value"])) < 16_000
