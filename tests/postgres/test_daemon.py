"""`calibd run` on PostgreSQL end to end, with a real Kafka broker: messages become products
in the PostgreSQL database and notifications on Kafka; a redelivered input is a duplicate."""

from __future__ import annotations

import json
import time

import pytest

from calibd.store.postgres.migrate import MIGRATIONS
from tests.conftest import example
from tests.integration.kafka_io import consume, produce
from tests.integration.test_kafka_path import assigned, kafka_settings
from tests.support.daemon_process import DaemonProcess

pytestmark = pytest.mark.integration


def wait_rows(postgres, db: str, sql: str, n: int, daemon: DaemonProcess) -> list[str]:
    deadline = time.monotonic() + 60
    rows: list[str] = []
    while time.monotonic() < deadline:
        rows = postgres.psql(sql, db).splitlines()
        if len(rows) >= n:
            return rows
        assert daemon.proc is not None and daemon.proc.poll() is None, daemon.tail()
        time.sleep(0.2)
    raise AssertionError(f"{sql}: {rows}\n{daemon.tail()}")


async def test_calibd_run_on_postgres_makes_one_product_per_input(postgres, kafka, tmp_path, uid):
    db = postgres.create_database("daemon")
    settings = kafka_settings(kafka, uid, **{"database.url": postgres.url(db)})
    daemon = DaemonProcess(tmp_path / "calibd", settings).start()
    try:
        daemon.wait_log(assigned, what="partition assignment")
        started = daemon.wait_msg("calibd started")
        assert started["database"] == postgres.url(db)
        weather, other = example("ctao.acada.weather"), example("ctao.acada.weather")
        topic = f"acada.calibration.{uid}"
        payloads = [json.dumps(e).encode() for e in (weather, other, weather)]  # a redelivery
        await produce(kafka.bootstrap, topic, payloads)

        notes = await consume(kafka.bootstrap, f"calibpipe.products.{uid}", 2)
        rows = wait_rows(postgres, db, "SELECT input_event_id FROM products", 2, daemon)
        assert sorted(rows) == sorted([weather["id"], other["id"]])
        assert {n["value"]["data"]["input_event_id"] for n in notes} == {weather["id"], other["id"]}
        daemon.wait_log(
            lambda e: (
                e.get("msg") == "duplicate message skipped" and e["event_id"] == weather["id"]
            ),
            what="the redelivered input",
        )
        ledger = wait_rows(postgres, db, "SELECT event_id FROM processed", 2, daemon)
        assert sorted(ledger) == sorted([weather["id"], other["id"]])
        newest = str(len(MIGRATIONS))
        assert postgres.psql("SELECT max(version) FROM calibd_schema", db).strip() == newest
    finally:
        assert daemon.stop() == 0
    later = postgres.psql("SELECT count(*) FROM products", db).strip()
    assert later == "2"  # the third message was the same input: no second product
