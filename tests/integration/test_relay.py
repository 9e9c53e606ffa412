"""The outbox relay through real brokers: each notification once without a fault; a
notification a sink can never take is recorded failed and the others flow on."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest
from aiokafka import AIOKafkaProducer

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
        notes = await consume(kafka.bootstrap, f"calibpipe.products.{uid}", n, timeout=60)
        with pytest.raises(TimeoutError):  # no copy beyond the n: the topic holds n records
            await consume(kafka.bootstrap, f"calibpipe.products.{uid}", n + 1, timeout=5)
    finally:
        stop_scraping.set()
        scrapes = await scraper
        assert daemon.stop() == 0
    assert scrapes > 10
    kafka_ids = Counter(note["value"]["id"] for note in notes)
    assert len(kafka_ids) == n and set(kafka_ids.values()) == {1}
    assert len(mqtt_ids) == n and set(mqtt_ids.values()) == {1}
    rows = daemon.query("SELECT sink, attempts, last_error, delivered_at FROM outbox_deliveries")
    assert len(rows) == 2 * n
    assert {(r["attempts"], r["last_error"]) for r in rows} == {(1, None)}
    assert all(r["delivered_at"] for r in rows)
