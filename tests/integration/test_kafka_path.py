"""A message on Kafka becomes a stored product and a notification, through real processes."""

from __future__ import annotations

import hashlib
import json
import signal

import pytest

from tests.conftest import example
from tests.integration.kafka_io import consume, produce
from tests.support.daemon_process import DaemonProcess

pytestmark = pytest.mark.integration


def kafka_settings(kafka, uid: str, **extra) -> dict:
    return {
        "kafka.enabled": True,
        "kafka.bootstrap_servers": kafka.bootstrap,
        "kafka.group_id": f"calibd-{uid}",
        "kafka.topics": [f"acada.calibration.{uid}"],
        "kafka.products_topic": f"calibpipe.products.{uid}",
        "kafka.dlq_topic": f"calibpipe.dlq.{uid}",
        "kafka.session_timeout_ms": 6000,
        "pipeline.handler_modules": ["tests.support.echo_handler"],
        "pipeline.workers": 1,
        **extra,
    }


def assigned(entry: dict) -> bool:
    return entry.get("msg") == "kafka partitions assigned" and bool(entry.get("partitions"))


async def test_structured_and_binary_messages_become_products_and_notifications(
    kafka, tmp_path, uid
):
    data_dir = tmp_path / "calibd"
    run_file = data_dir / "runs" / "pedestal_0001.fits"
    run_file.parent.mkdir(parents=True)
    run_file.write_bytes(b"SIMPLE  =                    T" + b" " * 2850)
    digest = hashlib.sha256(run_file.read_bytes()).hexdigest()
    daemon = DaemonProcess(data_dir, kafka_settings(kafka, uid)).start()
    try:
        daemon.wait_log(assigned, what="partition assignment")
        structured = example(
            "ctao.acada.pedestal_run", files=[{"uri": "runs/pedestal_0001.fits", "sha256": digest}]
        )
        weather = example("ctao.acada.weather")
        binary_headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", weather["id"].encode()),
            ("ce_source", weather["source"].encode()),
            ("ce_type", weather["type"].encode()),
            ("content-type", b"application/json"),
        ]
        topic = f"acada.calibration.{uid}"
        await produce(kafka.bootstrap, topic, [json.dumps(structured).encode()])
        await produce(
            kafka.bootstrap, topic, [json.dumps(weather["data"]).encode()], headers=binary_headers
        )

        notes = await consume(kafka.bootstrap, f"calibpipe.products.{uid}", 2)
        rows = daemon.wait_query("SELECT * FROM products", lambda r: len(r) == 2)
        by_input = {r["input_event_id"]: r for r in rows}
        assert set(by_input) == {structured["id"], weather["id"]}
        for note in notes:
            env = note["value"]
            assert env["type"] == "ctao.calibpipe.calibration_ready"
            assert note["headers"]["content-type"] == b"application/cloudevents+json"
            product = by_input[env["data"]["input_event_id"]]
            assert env["data"]["product_id"] == product["id"] == env["subject"]
            assert env["data"]["category"] == "B"
        prov = daemon.query(
            "SELECT input_files, config_hash, input_message FROM provenance WHERE product_id = ?",
            (by_input[structured["id"]]["id"],),
        )[0]
        files = json.loads(prov["input_files"])
        assert files[0]["sha256"] == digest and files[0]["path"] == str(run_file.resolve())
        assert json.loads(prov["input_message"])["id"] == structured["id"]
        assert len(prov["config_hash"]) == 64
    finally:
        assert daemon.stop() == 0


async def test_redelivery_after_restart_makes_no_second_product(kafka, tmp_path, uid):
    """Offsets are never committed (huge interval) and the daemon is SIGKILLed, so the
    restarted consumer gets the message again; the ledger makes it a no-op."""
    settings = kafka_settings(kafka, uid, **{"kafka.commit_interval_s": 3600})
    data_dir = tmp_path / "calibd"
    env = example("ctao.acada.weather")
    first = DaemonProcess(data_dir, settings).start()
    first.wait_log(assigned, what="partition assignment")
    await produce(kafka.bootstrap, f"acada.calibration.{uid}", [json.dumps(env).encode()])
    first.wait_query("SELECT id FROM products", lambda r: len(r) == 1)
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL

    second = DaemonProcess(data_dir, settings).start()
    try:
        second.wait_log(
            lambda e: (
                e.get("msg") == "duplicate message skipped" and e.get("event_id") == env["id"]
            ),
            timeout=60,
            what="the redelivered message",
        )
        assert len(second.query("SELECT id FROM products")) == 1
        assert len(second.query("SELECT * FROM processed")) == 1
    finally:
        assert second.stop() == 0


async def test_poison_messages_are_dead_lettered_and_consumption_goes_on(kafka, tmp_path, uid):
    daemon = DaemonProcess(tmp_path / "calibd", kafka_settings(kafka, uid)).start()
    try:
        daemon.wait_log(assigned, what="partition assignment")
        bad_schema = example("ctao.acada.weather", time="not a time")
        unknown = {**example("ctao.acada.weather"), "type": "ctao.acada.telepathy"}
        good = example("ctao.acada.weather")
        await produce(
            kafka.bootstrap,
            f"acada.calibration.{uid}",
            [
                b'{"specversion": "1.0", "id": ',
                json.dumps(bad_schema).encode(),
                json.dumps(unknown).encode(),
                json.dumps(good).encode(),
            ],
        )
        letters = daemon.wait_query(
            "SELECT reason, detail, event_id FROM dead_letters ORDER BY reason",
            lambda r: len(r) == 3,
        )
        assert [r["reason"] for r in letters] == ["malformed", "schema_violation", "unknown_type"]
        assert "invalid JSON" in letters[0]["detail"]
        assert letters[1]["detail"].startswith("data.time:")
        assert letters[1]["event_id"] == bad_schema["id"]
        assert "ctao.acada.telepathy" in letters[2]["detail"]
        daemon.wait_query(
            "SELECT input_event_id FROM products", lambda r: [x[0] for x in r] == [good["id"]]
        )
        dlq = await consume(kafka.bootstrap, f"calibpipe.dlq.{uid}", 3)
        assert sorted(m["value"]["data"]["reason"] for m in dlq) == [
            "malformed",
            "schema_violation",
            "unknown_type",
        ]
        assert all(m["value"]["type"] == "ctao.calibpipe.dead_letter" for m in dlq)
    finally:
        assert daemon.stop() == 0
