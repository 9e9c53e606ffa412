"""A notification the MQTT broker cannot take (over its `max_packet_size`, on which Mosquitto
disconnects the publisher) is refused by calibd before it is sent (`mqtt.max_publish_bytes`):
recorded failed with its reason, and the notifications behind it flow on. Once the operator
has a broker that takes it, `calibd outbox requeue` makes it pending again and it is sent."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from tests.conftest import example
from tests.integration.test_mqtt_and_triggers import Listener, mqtt_settings
from tests.integration.test_mqtt_delivery import publish_many
from tests.support.brokers import start_mosquitto
from tests.support.daemon_process import REPO, DaemonProcess

pytestmark = pytest.mark.integration


async def test_a_notification_over_the_brokers_packet_limit_is_refused_and_the_rest_flow(
    tmp_path, uid
):
    broker = start_mosquitto(tmp_path, "max_packet_size 200000\n")
    settings = mqtt_settings(
        broker,
        uid,
        **{
            "handlers.echo_trigger_rates.summary_bytes": 300_000,  # its notification: ~300 kB
            "mqtt.max_publish_bytes": 190_000,
            "outbox.retry_max_s": 1.0,
        },
    )
    oversized = example("ctao.acada.trigger_rates")
    valid = [example("ctao.acada.weather") for _ in range(5)]
    try:
        daemon = DaemonProcess(tmp_path / "calibd", settings).start()
        try:
            daemon.wait_msg("mqtt connected")
            async with Listener(broker, f"test/{uid}/products/#") as listener:
                topic = f"test/{uid}/ctao/acada"
                await publish_many(
                    broker, f"{topic}/trigger_rates", [json.dumps(oversized).encode()]
                )
                await asyncio.to_thread(
                    daemon.wait_query,
                    "SELECT COUNT(*) FROM products",
                    lambda r: r[0][0] == 1,
                )  # its notification is first in the outbox
                await publish_many(
                    broker, f"{topic}/weather", [json.dumps(e).encode() for e in valid]
                )
                got = await listener.wait(5)
                refused = await asyncio.to_thread(
                    daemon.wait_query,
                    "SELECT d.sink, d.last_error, d.delivered_at FROM outbox_deliveries d "
                    "WHERE d.failed_at IS NOT NULL",
                    lambda r: len(r) == 1,
                )
                await asyncio.sleep(1.5)  # a retry of the refused one would come within 1 s
                assert len(listener.messages) == 5
        finally:
            assert daemon.stop() == 0
    finally:
        broker.stop()
    products = {r["input_event_id"]: r["id"] for r in daemon.query("SELECT * FROM products")}
    assert {n["data"]["product_id"] for _, n in got} == {products[e["id"]] for e in valid}
    (row,) = refused
    assert row["sink"] == "mqtt" and row["delivered_at"] is None
    assert "over mqtt.max_publish_bytes 190000" in row["last_error"]
    assert not [e for e in daemon.log_lines() if e.get("msg", "").startswith("sink unavailable")]

    # the operator moves to a broker that takes it, raises the limit and requeues the refusal
    requeue = [sys.executable, "-m", "calibd", "--data-dir", str(tmp_path / "calibd")]
    out = subprocess.run(
        [*requeue, "outbox", "requeue", "--sink", "mqtt"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert out.stdout.startswith("1 refused notification deliveries pending again")
    roomy = start_mosquitto(tmp_path)
    try:
        again = DaemonProcess(
            tmp_path / "calibd",
            {**mqtt_settings(roomy, uid), "mqtt.max_publish_bytes": 1_000_000},
        )
        async with Listener(roomy, f"test/{uid}/products/#") as listener:
            again.start()
            try:
                ((_, late),) = await listener.wait(1)
            finally:
                assert again.stop() == 0
    finally:
        roomy.stop()
    assert late["data"]["product_id"] == products[oversized["id"]]
    assert (
        daemon.query("SELECT COUNT(*) FROM outbox_deliveries WHERE failed_at IS NOT NULL")[0][0]
        == 0
    )
