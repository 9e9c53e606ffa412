"""A PostgreSQL server that restarts under a running store and daemon (a real cluster of the
test's own, stopped and started): calls wait and carry on once it is back; past
`database.reconnect_s` the outage is a storage fault."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from bench.fault_injection import wait_until
from calibd.store import StoreUnavailable
from calibd.store.postgres import PostgresStore
from tests.conftest import example
from tests.integration.test_mqtt_and_triggers import mqtt_settings
from tests.integration.test_mqtt_delivery import publish_many
from tests.store_contract.records import done
from tests.support.daemon_process import DaemonProcess
from tests.support.postgres import PostgresCluster

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster():
    own = PostgresCluster().start()
    yield own
    own.stop()


async def test_calls_made_while_the_server_is_down_complete_when_it_is_back(cluster):
    url = cluster.url(cluster.create_database("rc"))
    async with PostgresStore(url, reconnect_s=60) as store:
        await store.commit([done("e1")])
        await asyncio.to_thread(cluster.pause)
        write = asyncio.create_task(store.commit([done("e2")]))
        read = asyncio.create_task(store.processed([("s", "e1")]))
        await asyncio.sleep(1.5)
        assert not write.done() and not read.done()  # waiting, not failed
        await asyncio.to_thread(cluster.resume)
        await asyncio.wait_for(write, 30)
        assert await asyncio.wait_for(read, 30) == {("s", "e1"): None}
        assert set(await store.processed([("s", "e1"), ("s", "e2")])) == {("s", "e1"), ("s", "e2")}


async def test_an_outage_past_reconnect_s_is_raised_and_the_store_recovers(cluster):
    url = cluster.url(cluster.create_database("rc"))
    async with PostgresStore(url, reconnect_s=1.0) as store:
        await asyncio.to_thread(cluster.pause)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.commit([done("e1")])
        assert 1.0 <= time.monotonic() - started < 15
        await asyncio.to_thread(cluster.resume)
        await store.commit([done("e1")])  # new connections once the server is back
        assert set(await store.processed([("s", "e1")])) == {("s", "e1")}


async def test_a_daemon_rides_out_a_server_restart(cluster, mqtt, tmp_path, uid):
    db = cluster.create_database("rcd")
    settings = mqtt_settings(mqtt, uid, **{"database.url": cluster.url(db)})
    daemon = DaemonProcess(tmp_path / "calibd", settings).start()
    topic = f"test/{uid}/ctao/acada/weather"
    envs = [example("ctao.acada.weather") for _ in range(60)]

    def products() -> int:
        return int(cluster.psql("SELECT count(DISTINCT input_event_id) FROM products", db))

    try:
        daemon.wait_msg("mqtt connected")
        await publish_many(mqtt, topic, [json.dumps(e).encode() for e in envs[:20]])
        await asyncio.to_thread(wait_until, lambda: products() == 20, 60, "products before")
        await asyncio.to_thread(cluster.pause)
        await publish_many(mqtt, topic, [json.dumps(e).encode() for e in envs[20:40]])
        await asyncio.sleep(3.0)  # the daemon keeps running while the server is down
        assert daemon.proc is not None and daemon.proc.poll() is None, daemon.tail()
        await asyncio.to_thread(cluster.resume)
        await publish_many(mqtt, topic, [json.dumps(e).encode() for e in envs[40:]])
        await asyncio.to_thread(wait_until, lambda: products() == 60, 90, "every product")
    finally:
        assert daemon.stop() == 0, daemon.tail()
    rows = cluster.psql("SELECT input_event_id, count(*) FROM products GROUP BY 1", db)
    counts = dict(line.split("|") for line in rows.splitlines())
    assert set(counts) == {e["id"] for e in envs} and set(counts.values()) == {"1"}
    said = [e.get("msg") for e in daemon.log_lines()]
    assert "database unavailable; trying again" in said
    assert "database available again" in said
