"""Hostile inputs on real Kafka (Tansu) and MQTT (mosquitto) to the daemon as a child process:
each ends as a dead letter with its bytes, acknowledged past it, and the daemon keeps running."""

from __future__ import annotations

import json

import pytest

from tests.conftest import example
from tests.integration.kafka_io import consume, produce
from tests.integration.test_kafka_path import assigned, kafka_settings
from tests.support.daemon_process import DaemonProcess

pytestmark = pytest.mark.integration

DEEP = b"[" * 5000 + b"]" * 5000


def binary_headers(env: dict, **nulls) -> list[tuple[str, bytes | None]]:
    out: list[tuple[str, bytes | None]] = [("ce_specversion", b"1.0")]
    out += [(f"ce_{k}", env[k].encode()) for k in ("id", "source", "type")]
    return out + [(k, None) for k in nulls]


async def test_deep_json_null_headers_and_loose_contracts_end_as_dead_letters(kafka, tmp_path, uid):
    topic = f"acada.calibration.{uid}"
    data_dir = tmp_path / "calibd"
    daemon = DaemonProcess(data_dir, kafka_settings(kafka, uid)).start()
    good, later = example("ctao.acada.weather"), example("ctao.acada.weather")
    traced = example("ctao.acada.weather")
    no_spec = {k: v for k, v in example("ctao.acada.weather").items() if k != "specversion"}
    coerced = example("ctao.acada.pedestal_run", tel_id="1")
    clash = {**good, "subject": "other content, same source and id"}
    in_extension = json.dumps({**example("ctao.acada.weather"), "deep": "X"}).encode()
    in_extension = in_extension.replace(b'"X"', DEEP)
    binary = example("ctao.acada.weather")
    try:
        daemon.wait_log(assigned, what="partition assignment")
        await produce(kafka.bootstrap, topic, [DEEP, in_extension])
        await produce(kafka.bootstrap, topic, [DEEP], headers=binary_headers(binary))
        await produce(
            kafka.bootstrap, topic, [json.dumps(traced).encode()], headers=[("trace", None)]
        )
        await produce(
            kafka.bootstrap,
            topic,
            [json.dumps(binary["data"]).encode()],
            headers=binary_headers({**binary, "id": "null-subject"}, ce_subject=None),
        )
        await produce(
            kafka.bootstrap,
            topic,
            [json.dumps(e).encode() for e in (good, no_spec, coerced)],
        )
        products = daemon.wait_query("SELECT input_event_id FROM products", lambda r: len(r) == 2)
        assert {p[0] for p in products} == {traced["id"], good["id"]}
        await produce(kafka.bootstrap, topic, [json.dumps(clash).encode()])  # after `good`
        letters = daemon.wait_query(
            "SELECT origin, reason, detail, payload, headers FROM dead_letters",
            lambda r: len(r) == 7,
        )

        def letter(payload: bytes, binary_mode: bool = False):
            (found,) = [
                r
                for r in letters
                if bytes(r["payload"]) == payload and (r["headers"] is not None) == binary_mode
            ]
            return found["reason"], found["detail"]

        reason, detail = letter(DEEP)
        assert reason == "malformed" and "recursion limit exceeded" in detail
        reason, detail = letter(in_extension)
        assert reason == "malformed" and "recursion limit exceeded" in detail
        reason, detail = letter(DEEP, binary_mode=True)
        assert reason == "malformed" and "binary-mode data: recursion limit" in detail
        reason, detail = letter(json.dumps(binary["data"]).encode(), binary_mode=True)
        assert reason == "malformed" and "'ce_subject' has no value" in detail
        (null_subject,) = [r for r in letters if "ce_subject" in (r["headers"] or "")]
        assert json.loads(null_subject["headers"])["ce_subject"] is None
        reason, detail = letter(json.dumps(no_spec).encode())
        assert reason == "malformed" and "'specversion'" in detail
        reason, detail = letter(json.dumps(coerced).encode())
        assert reason == "schema_violation" and "data.tel_id" in detail
        reason, detail = letter(json.dumps(clash).encode())
        assert reason == "conflicting_duplicate" and good["id"] in detail
        reasons = [r["reason"] for r in letters]
        dlq = await consume(kafka.bootstrap, f"calibpipe.dlq.{uid}", 7)
        assert sorted(m["value"]["data"]["reason"] for m in dlq) == sorted(reasons)
        assert not [e for e in daemon.log_lines() if e.get("msg", "").startswith("database")]
    finally:
        assert daemon.stop() == 0

    # offsets were committed past every message: a restart redelivers none of them
    again = DaemonProcess(data_dir, kafka_settings(kafka, uid)).start()
    try:
        again.wait_log(assigned, what="partition assignment")
        await produce(kafka.bootstrap, topic, [json.dumps(later).encode()])
        again.wait_query("SELECT id FROM products", lambda r: len(r) == 3)
        # log_lines() reads this start's lines only
        processed = [e for e in again.log_lines() if e.get("msg") == "message processed"]
        assert [e.get("event_id") for e in processed] == [later["id"]]
        assert len(again.query("SELECT id FROM dead_letters")) == 7
    finally:
        assert again.stop() == 0


async def test_hostile_inputs_on_mqtt_end_as_dead_letters_and_leave_the_inbox(mqtt, tmp_path, uid):
    """The same on MQTT (mosquitto): the durable inbox row goes with each outcome."""
    from tests.integration.test_mqtt_and_triggers import mqtt_settings, publish

    daemon = DaemonProcess(tmp_path / "calibd", mqtt_settings(mqtt, uid)).start()
    good = example("ctao.acada.weather")
    bad = [
        DEEP,
        json.dumps({**example("ctao.acada.weather"), "deep": "X"}).encode().replace(b'"X"', DEEP),
        json.dumps(example("ctao.acada.weather", site=True)).encode(),
        json.dumps({**good, "subject": "other content"}).encode(),
    ]
    try:
        daemon.wait_msg("mqtt connected")
        topic = f"test/{uid}/ctao/acada/weather"
        await publish(mqtt, topic, json.dumps(good).encode())
        daemon.wait_query("SELECT id FROM products", lambda r: len(r) == 1)
        for payload in bad:
            await publish(mqtt, topic, payload)
        letters = daemon.wait_query(
            "SELECT reason, payload FROM dead_letters ORDER BY id", lambda r: len(r) == 4
        )
        by_payload = {bytes(r["payload"]): r["reason"] for r in letters}
        assert [by_payload[p] for p in bad] == [
            "malformed",
            "malformed",
            "schema_violation",
            "conflicting_duplicate",
        ]
        daemon.wait_query("SELECT COUNT(*) FROM inbox", lambda r: r[0][0] == 0)
        assert len(daemon.query("SELECT id FROM products")) == 1
    finally:
        assert daemon.stop() == 0
