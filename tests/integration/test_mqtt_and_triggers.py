"""MQTT and ACADA trigger files into products; the outbox while Kafka is down."""

from __future__ import annotations

import asyncio
import json
import os

import aiomqtt
import pytest
from astropy.io import fits

from tests.conftest import example
from tests.integration.kafka_io import consume
from tests.support.brokers import start_tansu
from tests.support.daemon_process import DaemonProcess

pytestmark = pytest.mark.integration


def mqtt_settings(mqtt, uid: str, **extra) -> dict:
    return {
        "mqtt.enabled": True,
        "mqtt.host": "127.0.0.1",
        "mqtt.port": mqtt.port,
        "mqtt.client_id": f"calibd-{uid}",
        "mqtt.topic_filters": [f"test/{uid}/ctao/acada/#"],
        "mqtt.products_topic_prefix": f"test/{uid}/products",
        "mqtt.dlq_topic": f"test/{uid}/dlq",
        "pipeline.handler_modules": ["tests.support.echo_handler"],
        "pipeline.workers": 1,
        **extra,
    }


class Listener:
    """An independent MQTT subscriber collecting JSON payloads."""

    def __init__(self, mqtt, topic_filter: str) -> None:
        self.mqtt, self.filter, self.messages = mqtt, topic_filter, []
        self._ready = asyncio.Event()

    async def run(self) -> None:
        async with aiomqtt.Client("127.0.0.1", self.mqtt.port) as client:
            await client.subscribe(self.filter, qos=1)
            self._ready.set()
            async for message in client.messages:
                self.messages.append((message.topic.value, json.loads(message.payload)))

    async def __aenter__(self) -> Listener:
        self._task = asyncio.create_task(self.run())
        await asyncio.wait_for(self._ready.wait(), 10)
        return self

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def wait(self, count: int, timeout: float = 30.0) -> list:
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                await asyncio.sleep(0.05)
        return self.messages


async def publish(mqtt, topic: str, payload: bytes) -> None:
    async with aiomqtt.Client("127.0.0.1", mqtt.port) as client:
        await client.publish(topic, payload, qos=1)


async def test_mqtt_message_becomes_product_and_notification(mqtt, tmp_path, uid):
    daemon = DaemonProcess(tmp_path / "calibd", mqtt_settings(mqtt, uid)).start()
    try:
        daemon.wait_msg("mqtt connected")
        async with Listener(mqtt, f"test/{uid}/products/#") as listener:
            env = example("ctao.acada.weather")
            await publish(mqtt, f"test/{uid}/ctao/acada/weather", json.dumps(env).encode())
            await publish(mqtt, f"test/{uid}/ctao/acada/weather", b"\xff\xfe not json")
            ((topic, note),) = await listener.wait(1)
        rows = daemon.wait_query("SELECT id, product_type FROM products", lambda r: len(r) == 1)
        assert topic == f"test/{uid}/products/echo_weather"
        assert note["type"] == "ctao.calibpipe.calibration_ready"
        assert note["data"]["product_id"] == rows[0]["id"]
        assert note["data"]["input_event_id"] == env["id"]
        dead = daemon.wait_query(
            "SELECT reason, transport FROM dead_letters", lambda r: len(r) == 1
        )
        assert (dead[0]["reason"], dead[0]["transport"]) == ("malformed", "mqtt")
        # every message left the durable inbox in the transaction that recorded its outcome
        daemon.wait_query("SELECT COUNT(*) FROM inbox", lambda r: r[0][0] == 0)
    finally:
        assert daemon.stop() == 0


def write_dl0(directory, name: str, runtype: str | None) -> None:
    header = fits.Header()
    if runtype:
        header["RUNTYPE"] = runtype
    fits.PrimaryHDU(header=header).writeto(directory / name)
    os.symlink(name, directory / f"{name}.trigger")


async def test_trigger_files_become_products_once_across_restarts(mqtt, tmp_path, uid):
    dl0 = tmp_path / "dl0" / "LST-1" / "events" / "2026" / "11" / "24"
    dl0.mkdir(parents=True)
    base = (
        "TEL001_SDH0000_20261124T210300_SBID0000000002_OBSID0000000200_TEL_{}_CHUNK{:03d}.fits.fz"
    )
    write_dl0(dl0, base.format("CAL", 0), "PEDESTAL")
    write_dl0(dl0, base.format("SHOWER", 0), None)  # not for calibd: recorded as ignored
    write_dl0(dl0, "garbage_name.fits.fz", None)  # unusable: dead-lettered
    settings = mqtt_settings(
        mqtt,
        uid,
        **{
            "mqtt.consume": False,
            "acada_triggers.enabled": True,
            "acada_triggers.directories": [str(tmp_path / "dl0")],
            "acada_triggers.poll_interval_s": 0.2,
            "data_roots": [str(tmp_path / "dl0")],
        },
    )
    data_dir = tmp_path / "calibd"
    async with Listener(mqtt, f"test/{uid}/products/#") as listener:
        daemon = DaemonProcess(data_dir, settings).start()
        try:
            rows = daemon.wait_query("SELECT * FROM products", lambda r: len(r) == 1)
            ((_topic, note),) = await listener.wait(1)
        finally:
            assert daemon.stop() == 0
    product = rows[0]
    assert product["product_type"] == "echo_pedestal_run" and product["tel_id"] == 1
    assert note["data"]["product_id"] == product["id"]
    payload = json.loads(product["payload"])["data"]
    assert (payload["obs_id"], payload["sb_id"], payload["chunk_id"]) == (200, 2, 0)
    assert payload["run_start"] == "2026-11-24T21:03:00Z"
    ledger = daemon.query("SELECT status, COUNT(*) AS n FROM processed GROUP BY status")
    assert {r["status"]: r["n"] for r in ledger} == {"done": 1, "ignored": 1, "dead": 1}
    (letter,) = daemon.query("SELECT reason, detail FROM dead_letters")
    assert letter["reason"] == "bad_input" and "garbage_name.fits.fz" in letter["detail"]

    # a restart sees the same triggers and makes nothing new; a new trigger is picked up
    write_dl0(dl0, base.format("CAL", 1), "FLATFIELD")
    again = DaemonProcess(data_dir, settings).start()
    try:
        again.wait_msg("watching for ACADA trigger files")
        again.wait_query("SELECT COUNT(*) FROM processed", lambda r: r[0][0] == 4)
        await asyncio.sleep(1.0)  # several more polls
    finally:
        assert again.stop() == 0
    assert len(again.query("SELECT id FROM products")) == 1  # FLATFIELD has no test handler
    assert (
        again.query("SELECT reason FROM dead_letters ORDER BY id")[-1]["reason"] == "unknown_type"
    )
    assert len(again.query("SELECT * FROM dead_letters")) == 2


async def test_outbox_keeps_notifications_while_kafka_is_down(mqtt, tmp_path, uid):
    broker = start_tansu(tmp_path)
    settings = mqtt_settings(
        mqtt,
        uid,
        **{
            "mqtt.publish": False,
            "kafka.enabled": True,
            "kafka.consume": False,
            "kafka.bootstrap_servers": broker.bootstrap,
            "kafka.products_topic": f"calibpipe.products.{uid}",
            "outbox.retry_max_s": 1.0,
        },
    )
    daemon = DaemonProcess(tmp_path / "calibd", settings).start()
    try:
        daemon.wait_msg("mqtt connected")
        broker.stop()
        envs = [example("ctao.acada.weather") for _ in range(3)]
        for env in envs:
            await publish(mqtt, f"test/{uid}/ctao/acada/weather", json.dumps(env).encode())
        products = daemon.wait_query("SELECT id FROM products", lambda r: len(r) == 3)
        daemon.wait_query(
            "SELECT COUNT(*) FROM outbox_deliveries WHERE sink = 'kafka' AND delivered_at IS NULL",
            lambda r: r[0][0] == 3,
        )
        daemon.wait_msg("sink unavailable, notifications kept in the outbox")
        broker.start()
        notes = await consume(broker.bootstrap, f"calibpipe.products.{uid}", 3, timeout=60)
        assert {n["value"]["data"]["product_id"] for n in notes} == {r["id"] for r in products}
        daemon.wait_query(
            "SELECT COUNT(*) FROM outbox_deliveries WHERE delivered_at IS NULL",
            lambda r: r[0][0] == 0,
        )
        daemon.wait_msg("sink available again")
    finally:
        code = daemon.stop()
        broker.stop()
    assert code == 0
