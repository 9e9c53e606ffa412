"""Inbox rows belong to the instance that received them (a real `calibd run` on PostgreSQL):
at start it submits its own rows only, not those of an instance that is alive; it takes over
the rows of an instance whose inbox lease expired and the rows of no owner (written before
owners were recorded); every row ends as one product."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.fault_injection import wait_until
from tests.conftest import example
from tests.integration.test_mqtt_and_triggers import mqtt_settings
from tests.support.daemon_process import REPO, DaemonProcess

pytestmark = pytest.mark.integration


def _rows(owner: str | None, n: int) -> tuple[list[str], str]:
    """n weather envelopes and the SQL that puts them in the inbox as `owner`'s (None: of no
    owner)."""
    envs = [example("ctao.acada.weather") for _ in range(n)]
    values = ", ".join(
        f"('mqtt', 'mqtt test', convert_to($j${json.dumps(e)}$j$, 'UTF8'), now(), "
        f"{'NULL' if owner is None else repr(owner)})"
        for e in envs
    )
    sql = f"INSERT INTO inbox (transport, origin, payload, received_at, owner) VALUES {values}"
    return [e["id"] for e in envs], sql


def test_own_rows_at_start_and_a_stopped_instances_rows_taken_over(postgres, mqtt, tmp_path, uid):
    db = postgres.create_database("inbox")
    url = postgres.url(db)
    subprocess.run(
        [sys.executable, "-m", "calibd", "--data-dir", str(tmp_path / "m"), "--set",
         f"database.url={json.dumps(url)}", "db", "migrate"],
        check=True, cwd=REPO, capture_output=True, timeout=120,
    )  # fmt: skip
    ids = {}
    for owner in ("i0", "alive", "gone", None):
        ids[owner], sql = _rows(owner, 2)
        postgres.psql(sql, db)
    postgres.psql(
        "INSERT INTO leases VALUES ('inbox:alive', 'alive', now() + interval '10 minutes')", db
    )

    def products_of(owner: str | None) -> int:
        listed = ", ".join(f"'{i}'" for i in ids[owner])
        sql = f"SELECT count(*) FROM products WHERE input_event_id IN ({listed})"
        return int(postgres.psql(sql, db))

    settings = mqtt_settings(
        mqtt, uid, **{"database.url": url, "instance": "i0", "pipeline.inbox_lease_s": 3.0}
    )
    daemon = DaemonProcess(tmp_path / "i0", settings).start()
    try:
        recovered = daemon.wait_msg("recovered messages from the inbox", timeout=60)
        assert recovered["count"] == 2  # its own rows, not alive's nor gone's
        took = daemon.wait_msg("took over inbox rows of a stopped instance or of no owner", 30)
        assert took["instances"] == ["gone"] and took["count"] == 4 and took["unowned"] == 2
        mine = ("i0", "gone", None)
        wait_until(lambda: sum(products_of(o) for o in mine) == 6, 30, "products")
        assert products_of("alive") == 0  # its lease holds: its rows stay its own
        owners = postgres.psql("SELECT owner FROM inbox ORDER BY id", db).split()
        assert owners == ["alive", "alive"]
        # alive stops renewing: its lease expires and i0 takes its rows over
        postgres.psql("UPDATE leases SET until = now() - interval '1 s' WHERE holder = 'alive'", db)
        wait_until(lambda: products_of("alive") == 2, 30, "alive's rows processed")
        took = [e for e in daemon.log_lines() if e.get("msg", "").startswith("took over")]
        assert [e["instances"] for e in took] == [["gone"], ["alive"]]
    finally:
        assert daemon.stop() == 0, daemon.tail()
    assert postgres.psql("SELECT count(*) FROM inbox", db).strip() == "0"
    per_input = postgres.psql("SELECT count(*) FROM products GROUP BY input_event_id", db)
    assert per_input.split() == ["1"] * 8
