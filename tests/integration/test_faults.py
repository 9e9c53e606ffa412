"""Fault injection: killed daemon, killed worker, broker restart, poison floods, long work."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3

import pytest

from tests.conftest import example
from tests.integration.kafka_io import consume, produce
from tests.integration.test_kafka_path import assigned, kafka_settings
from tests.integration.test_mqtt_and_triggers import Listener, mqtt_settings, publish
from tests.support.brokers import start_tansu
from tests.support.daemon_process import DaemonProcess

pytestmark = pytest.mark.integration


class CheckingListener(Listener):
    """Records, for every notification received, whether its product was committed then."""

    def __init__(self, mqtt, topic_filter: str, db_path) -> None:
        super().__init__(mqtt, topic_filter)
        self.db_path, self.committed_at_receipt = db_path, []

    async def run(self) -> None:
        import aiomqtt

        async with aiomqtt.Client("127.0.0.1", self.mqtt.port) as client:
            await client.subscribe(self.filter, qos=1)
            self._ready.set()
            async for message in client.messages:
                note = json.loads(message.payload)
                with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True) as conn:
                    found = conn.execute(
                        "SELECT 1 FROM products WHERE id = ?", (note["data"]["product_id"],)
                    ).fetchone()
                self.committed_at_receipt.append(found is not None)
                self.messages.append((message.topic.value, note))


async def test_sigkill_mid_handler_then_restart_makes_the_product_once(mqtt, tmp_path, uid):
    data = tmp_path / "calibd"
    slow = mqtt_settings(mqtt, uid, **{"handlers.echo_weather.cpu_seconds": 30.0})
    env = example("ctao.acada.weather")
    async with CheckingListener(mqtt, f"test/{uid}/products/#", data / "calibd.sqlite") as lis:
        first = DaemonProcess(data, slow).start()
        first.wait_msg("mqtt connected")
        await publish(mqtt, f"test/{uid}/ctao/acada/weather", json.dumps(env).encode())
        first.wait_query("SELECT COUNT(*) FROM inbox", lambda r: r[0][0] == 1)
        await asyncio.sleep(1.0)  # the handler is computing
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
        assert first.query("SELECT COUNT(*) FROM products")[0][0] == 0

        second = DaemonProcess(data, {**slow, "handlers.echo_weather.cpu_seconds": 0.0}).start()
        try:
            second.wait_query("SELECT id FROM products", lambda r: len(r) == 1)
            notes = await lis.wait(1)
            await asyncio.sleep(1.0)  # any duplicate copy would arrive now
        finally:
            assert second.stop() == 0
    (product,) = second.query("SELECT id, input_event_id FROM products")
    assert product["input_event_id"] == env["id"]
    assert {n["data"]["product_id"] for _, n in notes} == {product["id"]}
    assert len({n["id"] for _, n in notes}) == 1  # every copy has the same event id
    assert all(lis.committed_at_receipt)


async def test_a_killed_worker_is_replaced_and_the_message_retried(mqtt, tmp_path, uid):
    marker = tmp_path / "crash-once"
    marker.write_text("the first computation dies")
    settings = mqtt_settings(
        mqtt,
        uid,
        **{"handlers.echo_weather.crash_marker": str(marker), "pipeline.retry_backoff_s": 0.2},
    )
    daemon = DaemonProcess(tmp_path / "calibd", settings).start()
    try:
        daemon.wait_msg("mqtt connected")
        await publish(
            mqtt,
            f"test/{uid}/ctao/acada/weather",
            json.dumps(example("ctao.acada.weather")).encode(),
        )
        daemon.wait_query("SELECT id FROM products", lambda r: len(r) == 1)
        daemon.wait_msg("retry attempt ended")
    finally:
        assert daemon.stop() == 0
    assert not marker.exists()  # the first worker really ran and died
    assert daemon.query("SELECT COUNT(*) FROM dead_letters")[0][0] == 0
    (retry,) = daemon.query("SELECT kind, status, state FROM waits")
    assert (retry["kind"], retry["status"]) == ("retry", "completed")
    assert "worker process died" in json.loads(retry["state"])["last_error"]
    assert len(daemon.query("SELECT id FROM products")) == 1


async def recreate_topic(bootstrap: str, topic: str, partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def partitions_of(bootstrap: str, topic: str) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (desc,) = await admin.describe_topics([topic])
        return len(desc["partitions"])
    finally:
        await admin.close()


async def test_kafka_restart_during_a_run_loses_nothing(tmp_path, uid):
    """The test broker keeps everything in memory, so it comes back without topics; as an
    operator would, the test provisions the notification topic again (a real Kafka keeps
    its topics, and Tansu acknowledges writes to a topic it lost without storing them).
    To stand in for the log a real broker keeps, the input topic is refilled with the same
    first 20 messages in the same partitions, so offsets continue where they were; whether
    the consumer resumes at its committed offsets or from the start, those 20 must not make a
    second product."""
    broker = start_tansu(tmp_path)
    topic, n_in = f"acada.calibration.{uid}", 2
    await recreate_topic(broker.bootstrap, topic, n_in)
    settings = kafka_settings(broker, uid, **{"outbox.retry_max_s": 1.0})
    daemon = DaemonProcess(tmp_path / "calibd", settings).start()
    try:
        daemon.wait_log(assigned, what="partition assignment")
        before = [example("ctao.acada.weather") for _ in range(20)]
        before_raw = [json.dumps(e).encode() for e in before]
        await produce(broker.bootstrap, topic, before_raw, partitions=n_in)
        daemon.wait_query("SELECT id FROM products", lambda r: len(r) == 20)
        products_topic = f"calibpipe.products.{uid}"
        daemon.wait_query(
            "SELECT COUNT(*) FROM outbox_deliveries WHERE delivered_at IS NULL",
            lambda r: r[0][0] == 0,
        )
        n_partitions = await partitions_of(broker.bootstrap, products_topic)
        broker.stop()
        await asyncio.sleep(2)
        broker.start()
        await recreate_topic(broker.bootstrap, products_topic, n_partitions)
        await recreate_topic(broker.bootstrap, topic, n_in)
        await produce(broker.bootstrap, topic, before_raw, partitions=n_in)
        after = [example("ctao.acada.weather") for _ in range(20)]
        after_raw = [json.dumps(e).encode() for e in after]
        await produce(broker.bootstrap, topic, after_raw, partitions=n_in)
        rows = daemon.wait_query(
            "SELECT input_event_id FROM products", lambda r: len(r) == 40, timeout=90
        )
        assert {r[0] for r in rows} == {e["id"] for e in before + after}
        daemon.wait_query(
            "SELECT COUNT(*) FROM outbox_deliveries WHERE delivered_at IS NULL",
            lambda r: r[0][0] == 0,
            timeout=60,
        )
        notes = await consume(broker.bootstrap, f"calibpipe.products.{uid}", 20, timeout=60)
        made_after = {n["value"]["data"]["input_event_id"] for n in notes}
        assert {e["id"] for e in after} <= made_after
    finally:
        code = daemon.stop()
        broker.stop()
    assert code == 0


async def test_a_thousand_poison_messages_among_a_thousand_valid_ones(kafka, tmp_path, uid):
    daemon = DaemonProcess(tmp_path / "calibd", kafka_settings(kafka, uid)).start()
    try:
        daemon.wait_log(assigned, what="partition assignment")
        valid = [example("ctao.acada.weather") for _ in range(1000)]
        poison = []
        for i in range(1000):
            kind = i % 4
            if kind == 0:
                poison.append(b"{truncated")
            elif kind == 1:
                poison.append(json.dumps(example("ctao.acada.weather", time="yesterday")).encode())
            elif kind == 2:
                poison.append(json.dumps({**example("ctao.acada.weather"), "type": "x.y"}).encode())
            else:
                poison.append(b"\x00\xff binary garbage")
        mixed = [
            m
            for pair in zip([json.dumps(v).encode() for v in valid], poison, strict=True)
            for m in pair
        ]
        await produce(kafka.bootstrap, f"acada.calibration.{uid}", mixed)
        daemon.wait_query("SELECT COUNT(*) FROM products", lambda r: r[0][0] == 1000, timeout=120)
        reasons = daemon.wait_query(
            "SELECT reason, COUNT(*) FROM dead_letters GROUP BY reason",
            lambda r: sum(x[1] for x in r) == 1000,
            timeout=60,
        )
    finally:
        assert daemon.stop() == 0
    assert dict(reasons) == {"malformed": 500, "schema_violation": 250, "unknown_type": 250}
    made = {r[0] for r in daemon.query("SELECT input_event_id FROM products")}
    assert made == {v["id"] for v in valid}


async def test_long_computations_cause_no_rebalance(kafka, tmp_path, uid):
    """One message at a time, 2.5 s each, 5 messages: far past max.poll.interval (10 s) in
    total. The source pauses its partitions and keeps polling, so the group stays put."""
    settings = kafka_settings(
        kafka,
        uid,
        **{
            "handlers.echo_weather.cpu_seconds": 2.5,
            "pipeline.max_in_flight": 1,
            "kafka.max_poll_interval_ms": 10_000,
        },
    )
    daemon = DaemonProcess(tmp_path / "calibd", settings).start()
    try:
        daemon.wait_log(assigned, what="partition assignment")
        envs = [example("ctao.acada.weather") for _ in range(5)]
        await produce(
            kafka.bootstrap, f"acada.calibration.{uid}", [json.dumps(e).encode() for e in envs]
        )
        daemon.wait_query("SELECT COUNT(*) FROM products", lambda r: r[0][0] == 5, timeout=60)
    finally:
        assert daemon.stop() == 0
    revoked = [e for e in daemon.log_lines() if e.get("msg") == "kafka partitions revoked"]
    assert len(revoked) <= 1  # only the one at shutdown
    assert daemon.query("SELECT COUNT(*) FROM processed")[0][0] == 5
