"""Run-time configuration changes over a real broker: bounded and authorised like start-up."""

from __future__ import annotations

import json

import pytest

from tests.conftest import example
from tests.integration.kafka_io import consume, produce
from tests.integration.test_kafka_path import assigned, kafka_settings
from tests.support.daemon_process import DaemonProcess

pytestmark = pytest.mark.integration


def change(source: str, key: str, value) -> dict:
    env = example(
        "ctao.calibpipe.config_change", changes=[{"key": key, "value": value}], reason="test"
    )
    return {**env, "source": source}


async def test_config_changes_on_the_bus_are_bounded_and_authorised(kafka, tmp_path, uid):
    settings = kafka_settings(
        kafka,
        uid,
        **{
            "pipeline.handler_modules": ["calibd.handlers"],  # the real molecular handler
            "kafka.reports_topic": f"calibpipe.reports.{uid}",
        },
    )
    daemon = DaemonProcess(tmp_path / "calibd", settings).start()
    topic = f"acada.calibration.{uid}"
    try:
        daemon.wait_log(assigned, 60, "partitions assigned")
        requests = [
            change("ctao.soss/operator", "handlers.molecular.top_altitude_m", 1e9),
            change("ctao.acada/somebody", "handlers.molecular.step_m", 100.0),
            change("ctao.soss/operator", "handlers.molecular.step_m", 100.0),
        ]
        for n, env in enumerate(requests, 1):  # one at a time: each builds on the last
            await produce(kafka.bootstrap, topic, [json.dumps(env).encode()])
            daemon.wait_query("SELECT * FROM processed", lambda r, n=n: len(r) == n)
        weather = example("ctao.acada.weather")
        await produce(kafka.bootstrap, topic, [json.dumps(weather).encode()])
        (product,) = daemon.wait_query(
            "SELECT config_version, payload FROM products", lambda r: len(r) == 1
        )
        replies = [
            m["value"] for m in await consume(kafka.bootstrap, settings["kafka.reports_topic"], 3)
        ]
        letters = [
            m["value"] for m in await consume(kafka.bootstrap, settings["kafka.dlq_topic"], 2)
        ]
    finally:
        assert daemon.stop() == 0
    dead = daemon.query("SELECT event_id, reason, detail FROM dead_letters ORDER BY id")
    assert [(d["event_id"], d["reason"]) for d in dead] == [
        (requests[0]["id"], "config_rejected"),
        (requests[1]["id"], "config_unauthorised"),
    ]
    assert (
        "handlers.molecular.top_altitude_m: Input should be less than or equal to"
        in (dead[0]["detail"])
    )
    assert "'ctao.acada/somebody' may not change handlers.molecular.step_m" in dead[1]["detail"]
    assert sorted(m["data"]["reason"] for m in letters) == [
        "config_rejected",
        "config_unauthorised",
    ]
    by_request = {m["subject"]: m["data"]["details"] for m in replies}
    assert [by_request[r["id"]]["accepted"] for r in requests] == [False, False, True]
    versions = daemon.query("SELECT version FROM config_versions ORDER BY version")
    assert [v["version"] for v in versions] == [1, 2]  # only the operator's valid change
    assert product["config_version"] == 2
    assert json.loads(product["payload"])["top_altitude_m"] == 100_000.0
