"""Two `calibd run` instances on one PostgreSQL database in one MQTT shared subscription
(`mqtt.share_group`): the broker splits the messages between them, every input has one product,
and each instance processed some."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.conftest import example
from tests.integration.test_mqtt_and_triggers import mqtt_settings
from tests.integration.test_mqtt_delivery import publish_many
from tests.support.daemon_process import DaemonProcess

pytestmark = pytest.mark.integration


async def test_two_instances_share_an_mqtt_subscription(postgres, mqtt, tmp_path, uid):
    db = postgres.create_database("shared")
    daemons = []
    for name in ("a", "b"):
        settings = mqtt_settings(
            mqtt,
            uid,
            **{
                "database.url": postgres.url(db),
                "mqtt.share_group": f"calibd-{uid}",
                "mqtt.client_id": f"calibd-{uid}-{name}",
                "instance": f"calibd-{name}",
            },
        )
        daemons.append(DaemonProcess(tmp_path / name, settings).start())
    try:
        for d in daemons:
            connected = d.wait_msg("mqtt connected")
            assert connected["filters"] == [f"$share/calibd-{uid}/test/{uid}/ctao/acada/#"]
            assert connected["instance"] == d.settings["instance"]
        envs = [example("ctao.acada.weather") for _ in range(60)]
        await publish_many(
            mqtt, f"test/{uid}/ctao/acada/weather", [json.dumps(e).encode() for e in envs]
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            n = int(postgres.psql("SELECT count(DISTINCT input_event_id) FROM products", db))
            if n >= len(envs):
                break
            await asyncio.sleep(0.3)
    finally:
        codes = [d.stop() for d in daemons]
    assert codes == [0, 0]
    rows = postgres.psql("SELECT input_event_id, count(*) FROM products GROUP BY 1", db)
    counts = dict(line.split("|") for line in rows.splitlines())
    assert set(counts) == {e["id"] for e in envs} and set(counts.values()) == {"1"}
    done_by = [
        sum(1 for line in d.log_lines() if line.get("msg") == "message processed") for d in daemons
    ]
    assert all(n > 0 for n in done_by) and sum(done_by) == len(envs), done_by
