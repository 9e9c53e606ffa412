"""The contract every transport source keeps, run against each one on a real broker:

- what the broker delivers reaches the pipeline byte for byte;
- nothing is acknowledged before it is durable: with a pipeline that cannot make a message
  durable, the broker delivers it again to the next instance of the source.

And the shape of the transport packages: the same files, no transport writing the store.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
from pathlib import Path

import paho.mqtt.publish as mqtt_publish
import pytest

from calibd.config import KafkaSettings, MqttSettings
from calibd.testing import RecordingAdmission, envelope
from calibd.transports.kafka.source import KafkaSource
from calibd.transports.mqtt.source import MqttSource
from tests.integration.kafka_io import produce

TRANSPORTS = Path(__file__).resolve().parents[2] / "calibd" / "transports"


def kafka_source(kafka, uid: str, admission: RecordingAdmission) -> KafkaSource:
    settings = KafkaSettings(
        enabled=True,
        bootstrap_servers=kafka.bootstrap,
        topics=[f"contract.{uid}"],
        group_id=f"contract-{uid}",
        commit_interval_s=0.1,
        session_timeout_ms=6000,
    )
    return KafkaSource(settings, admission)


def mqtt_source(mqtt, uid: str, admission: RecordingAdmission) -> MqttSource:
    settings = MqttSettings(
        enabled=True,
        port=mqtt.port,
        client_id=f"contract-{uid}",
        topic_filters=[f"contract/{uid}/#"],
    )
    return MqttSource(settings, admission)


async def send(transport: str, broker, uid: str, payload: bytes) -> None:
    if transport == "kafka":
        await produce(broker.bootstrap, f"contract.{uid}", [payload])
    else:
        await asyncio.to_thread(
            mqtt_publish.single, f"contract/{uid}/x", payload, qos=1, port=broker.port
        )


async def receive(source, admission: RecordingAdmission, timeout: float = 60.0) -> None:
    """Run `source` until it submitted something (or died), then a little longer, stop it."""
    task = asyncio.create_task(source.run())
    try:
        async with asyncio.timeout(timeout):
            arrived = asyncio.create_task(admission.arrived.wait())
            await asyncio.wait([arrived, task], return_when=asyncio.FIRST_COMPLETED)
            arrived.cancel()
        await asyncio.sleep(0.5)  # time for a wrong source to acknowledge or commit
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await source.close()


async def subscribed(transport: str, broker, uid: str) -> None:
    """MQTT keeps messages for a persistent session only once it has subscribed."""
    if transport == "mqtt":
        first = RecordingAdmission()
        source = mqtt_source(broker, uid, first)
        task = asyncio.create_task(source.run())
        async with asyncio.timeout(20):
            while not source.connected:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


@pytest.fixture(params=["kafka", "mqtt"])
def transport(request):
    broker = request.getfixturevalue(request.param)
    make = kafka_source if request.param == "kafka" else mqtt_source
    return request.param, broker, make


async def test_a_delivered_message_reaches_the_pipeline_byte_for_byte(transport, uid):
    name, broker, make = transport
    await subscribed(name, broker, uid)
    payload = json.dumps(envelope("ctao.acada.weather")).encode()
    await send(name, broker, uid, payload)
    admission = RecordingAdmission()
    await receive(make(broker, uid, admission), admission)
    assert [r.payload for r in admission.submitted] == [payload]
    assert admission.submitted[0].transport == name


async def test_nothing_is_acknowledged_before_it_is_durable(transport, uid):
    name, broker, make = transport
    await subscribed(name, broker, uid)
    payload = json.dumps(envelope("ctao.acada.weather")).encode()
    await send(name, broker, uid, payload)
    failing = RecordingAdmission(durable=False)
    await receive(make(broker, uid, failing), failing)
    if name == "kafka":  # the MQTT source stops at its inbox: nothing was submitted
        assert [r.payload for r in failing.submitted] == [payload]

    again = RecordingAdmission()
    await receive(make(broker, uid, again), again)
    assert [r.payload for r in again.submitted] == [payload]  # delivered again


def test_every_transport_package_has_the_same_shape_and_never_writes_the_store():
    packages = sorted(p for p in TRANSPORTS.iterdir() if (p / "__init__.py").is_file())
    assert {p.name for p in packages} == {"kafka", "mqtt", "acada_triggers", "replay"}
    for package in packages:
        assert (package / "source.py").is_file(), package
        if package.name in ("kafka", "mqtt"):  # transports with a broker client
            assert (package / "sink.py").is_file() and (package / "options.py").is_file()
        for module in package.glob("*.py"):
            tree = ast.parse(module.read_text())
            imported = [
                n.module if isinstance(n, ast.ImportFrom) else a.name
                for n in ast.walk(tree)
                if isinstance(n, ast.Import | ast.ImportFrom)
                for a in (n.names if isinstance(n, ast.Import) else [n])
            ]
            bad = [  # the typed rows a sink is handed are fine; the store itself is not
                m
                for m in imported
                if m
                and (m.startswith("calibd.store") or m == "aiosqlite")
                and m != "calibd.store.records"
            ]
            assert bad == [], (module, bad)
