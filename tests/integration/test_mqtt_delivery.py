"""MQTT is at-least-once in fact: a message is acknowledged only once it is in the inbox.

A backlog queued by Mosquitto for calibd's persistent session goes through SIGKILLs and a
SIGTERM at several points; every message ends with exactly one product.
"""

from __future__ import annotations

import asyncio
import json
import signal

import aiomqtt
import pytest

from tests.conftest import example
from tests.integration.test_mqtt_and_triggers import mqtt_settings
from tests.support.brokers import start_mosquitto
from tests.support.daemon_process import DaemonProcess

pytestmark = pytest.mark.integration


async def publish_many(mqtt, topic: str, payloads: list[bytes]) -> None:
    async with aiomqtt.Client("127.0.0.1", mqtt.port) as client:
        for payload in payloads:
            await client.publish(topic, payload, qos=1)


def register_session(data, settings) -> None:
    """Run calibd once so that the broker holds its persistent session and subscriptions."""
    daemon = DaemonProcess(data, settings).start()
    daemon.wait_msg("mqtt connected")
    assert daemon.stop() == 0


def products_per_input(daemon: DaemonProcess) -> dict[str, int]:
    rows = daemon.query("SELECT input_event_id, COUNT(*) AS n FROM products GROUP BY 1")
    return {r["input_event_id"]: r["n"] for r in rows}


def finish_and_count(daemon: DaemonProcess, envs: list[dict]) -> None:
    """Wait until every input has a product and the inbox is empty; one product each."""
    try:
        daemon.wait_msg("mqtt connected")  # the backlog may be done already: let it start
        daemon.wait_query(
            "SELECT COUNT(DISTINCT input_event_id) FROM products",
            lambda r: r[0][0] >= len(envs),
            timeout=90,
        )
        daemon.wait_query("SELECT COUNT(*) FROM inbox", lambda r: r[0][0] == 0)
    finally:
        assert daemon.stop() == 0
    counts = products_per_input(daemon)
    assert set(counts) == {e["id"] for e in envs}
    assert set(counts.values()) == {1}


async def test_a_backlog_survives_sigkills_and_sigterm_one_product_each(mqtt, tmp_path, uid):
    data = tmp_path / "calibd"
    settings = mqtt_settings(mqtt, uid, **{"handlers.echo_weather.cpu_seconds": 0.01})
    register_session(data, settings)
    envs = [example("ctao.acada.weather") for _ in range(600)]
    await publish_many(
        mqtt, f"test/{uid}/ctao/acada/weather", [json.dumps(e).encode() for e in envs]
    )
    for reached, sig in [
        (60, signal.SIGKILL),
        (200, signal.SIGKILL),
        (330, signal.SIGTERM),
        (450, signal.SIGKILL),
    ]:
        daemon = DaemonProcess(data, settings).start()
        daemon.wait_query(
            "SELECT COUNT(*) FROM products", lambda r, n=reached: r[0][0] >= n, timeout=90
        )
        assert daemon.stop(sig) == (0 if sig == signal.SIGTERM else -signal.SIGKILL)

    finish_and_count(DaemonProcess(data, settings).start(), envs)


async def test_the_broker_holds_what_calibd_cannot_take_yet(mqtt, tmp_path, uid):
    """With the pipeline full, unacknowledged messages stay with the broker (its in-flight
    window is the backpressure): a SIGKILL then loses none of them."""
    data = tmp_path / "calibd"
    stuck = mqtt_settings(
        mqtt,
        uid,
        **{"handlers.echo_weather.cpu_seconds": 60.0, "pipeline.max_in_flight": 4},
    )
    register_session(data, stuck)
    envs = [example("ctao.acada.weather") for _ in range(300)]
    await publish_many(
        mqtt, f"test/{uid}/ctao/acada/weather", [json.dumps(e).encode() for e in envs]
    )
    daemon = DaemonProcess(data, stuck).start()
    try:
        daemon.wait_query("SELECT COUNT(*) FROM inbox", lambda r: r[0][0] >= 4)
        await asyncio.sleep(2.0)
        held = daemon.query("SELECT COUNT(*) FROM inbox")[0][0]
        await asyncio.sleep(1.0)
        # calibd takes what the broker has sent without acknowledgement and stops there: the
        # broker's in-flight window (max_inflight_messages 100, though Mosquitto may send a
        # persistent session's queue in a larger first burst) holds the rest back
        assert held < len(envs) and daemon.query("SELECT COUNT(*) FROM inbox")[0][0] == held
    finally:  # killed even when the test fails: else it burns a core for 300 x 60 s
        assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL

    quick = {**stuck, "handlers.echo_weather.cpu_seconds": 0.0, "pipeline.max_in_flight": 64}
    finish_and_count(DaemonProcess(data, quick).start(), envs)


async def test_calibd_reconnects_and_resubscribes_after_a_broker_restart(tmp_path, uid):
    broker = start_mosquitto(tmp_path)
    try:
        daemon = DaemonProcess(tmp_path / "calibd", mqtt_settings(broker, uid)).start()
        try:
            daemon.wait_msg("mqtt connected")
            first = example("ctao.acada.weather")
            await publish_many(
                broker, f"test/{uid}/ctao/acada/weather", [json.dumps(first).encode()]
            )
            daemon.wait_query("SELECT COUNT(*) FROM products", lambda r: r[0][0] == 1)
            broker.stop()  # this broker keeps no sessions across restarts (persistence false)
            daemon.wait_msg("mqtt disconnected, reconnecting with backoff")
            broker.start()
            second = example("ctao.acada.weather")
            payload = json.dumps(second).encode()
            # published until calibd has resubscribed on the new broker
            deadline = asyncio.get_running_loop().time() + 30
            while not daemon.query(
                "SELECT 1 FROM products WHERE input_event_id = ?", (second["id"],)
            ):
                assert asyncio.get_running_loop().time() < deadline, daemon.tail()
                await publish_many(broker, f"test/{uid}/ctao/acada/weather", [payload])
                await asyncio.sleep(0.5)
        finally:
            assert daemon.stop() == 0
        counts = products_per_input(daemon)
        assert counts == {first["id"]: 1, second["id"]: 1}
    finally:
        broker.stop()


async def test_every_poison_mqtt_message_has_its_own_dead_letter(mqtt, tmp_path, uid):
    daemon = DaemonProcess(tmp_path / "calibd", mqtt_settings(mqtt, uid)).start()
    try:
        daemon.wait_msg("mqtt connected")
        topic = f"test/{uid}/ctao/acada/weather"
        for i in range(3):  # the inbox is empty again between the messages
            await publish_many(mqtt, topic, [f"not json {i}".encode()])
            daemon.wait_query("SELECT COUNT(*) FROM dead_letters", lambda r, n=i: r[0][0] == n + 1)
            daemon.wait_query("SELECT COUNT(*) FROM inbox", lambda r: r[0][0] == 0)
    finally:
        assert daemon.stop() == 0
    rows = daemon.query("SELECT payload FROM dead_letters ORDER BY id")
    assert [bytes(r["payload"]) for r in rows] == [f"not json {i}".encode() for i in range(3)]
