"""Two `calibd run` instances on one PostgreSQL database watching the same ACADA trigger
directories: one scans (the lease holder), the other stands by and takes over when the
scanner dies; every trigger file is handled once. A scan longer than the lease keeps it."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.integration.test_mqtt_and_triggers import mqtt_settings, write_dl0
from tests.support.daemon_process import DaemonProcess

pytestmark = pytest.mark.integration

BASE = "TEL001_SDH0000_20261124T210300_SBID0000000002_OBSID0000000200_TEL_CAL_CHUNK{:03d}.fits.fz"


def count(postgres, db: str, sql: str) -> int:
    return int(postgres.psql(sql, db).strip() or 0)


def scanner_and_standby(postgres, db, mqtt, uid, tmp_path, **more):
    """Instance a (started, scanning) and b (started, standing by) on `db`'s trigger tree."""
    extra = {
        "database.url": postgres.url(db),
        "mqtt.consume": False,
        "acada_triggers.enabled": True,
        "acada_triggers.directories": [str(tmp_path / "dl0")],
        "acada_triggers.poll_interval_s": 0.2,
        "data_roots": [str(tmp_path / "dl0")],
        **more,
    }
    first = DaemonProcess(tmp_path / "a", {**mqtt_settings(mqtt, uid), **extra}).start()
    first.wait_msg("trigger directories scanned here")
    settings_b = {**mqtt_settings(mqtt, uid), **extra, "mqtt.client_id": f"calibd-{uid}-b"}
    return first, DaemonProcess(tmp_path / "b", settings_b).start()


async def test_one_instance_scans_and_a_standby_takes_over(postgres, mqtt, tmp_path, uid):
    db = postgres.create_database("triggers")
    dl0 = tmp_path / "dl0" / "LST-1" / "events" / "2026" / "11" / "24"
    dl0.mkdir(parents=True)
    write_dl0(dl0, BASE.format(0), "PEDESTAL")
    first, second = scanner_and_standby(
        postgres, db, mqtt, uid, tmp_path, **{"acada_triggers.lease_s": 2.0}
    )
    try:
        second.wait_msg("standby: another instance scans the trigger directories")
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL  # the scanner dies
        second.wait_msg("trigger directories scanned here", timeout=15)  # within the lease
        write_dl0(dl0, BASE.format(1), "PEDESTAL")
        for _ in range(150):
            if count(postgres, db, "SELECT count(*) FROM products") >= 2:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # several more polls of the new scanner
    finally:
        assert second.stop() == 0
    assert count(postgres, db, "SELECT count(*) FROM products") == 2  # one per trigger
    assert count(postgres, db, "SELECT count(DISTINCT input_event_id) FROM products") == 2


async def test_a_scan_longer_than_the_lease_keeps_it(postgres, mqtt, tmp_path, uid):
    db = postgres.create_database("longscan")
    dl0 = tmp_path / "dl0" / "LST-1" / "events" / "2026" / "11" / "24"
    dl0.mkdir(parents=True)
    n = 24
    for k in range(n):
        write_dl0(dl0, BASE.format(k), "PEDESTAL")
    # one trigger at a time, 0.25 s each: the first scan takes >= 6 s, six leases
    first, second = scanner_and_standby(
        postgres,
        db,
        mqtt,
        uid,
        tmp_path,
        **{
            "acada_triggers.lease_s": 1.0,
            "pipeline.max_in_flight": 1,
            "handlers.echo_pedestal_run.cpu_seconds": 0.25,
        },
    )
    try:
        second.wait_msg("standby: another instance scans the trigger directories")
        for _ in range(300):
            if count(postgres, db, "SELECT count(*) FROM products") >= n:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # more than a lease: the standby stays one
    finally:
        assert second.stop() == 0 and first.stop() == 0
    scanned_b = [
        e for e in second.log_lines() if e.get("msg") == "trigger directories scanned here"
    ]
    assert scanned_b == []
    assert not [e for e in first.log_lines() if "lease lost" in str(e.get("msg"))]
    assert count(postgres, db, "SELECT count(*) FROM products") == n
    assert count(postgres, db, "SELECT count(DISTINCT input_event_id) FROM products") == n
