"""The outbox: reads on a real SQLite database see every commit made before them, however many
coroutines share the read connection; sink errors classified by the libraries' own types;
dead-letter notices bounded."""

from __future__ import annotations

import asyncio

import aiomqtt
import paho.mqtt.client as paho
import pytest
from aiokafka import errors as kerr

from calibd.dead_letter_notice import EXCERPT_BYTES, dead_letter_data, payload_excerpt
from calibd.store import Completion, OutboxRecord, Store
from calibd.transports.kafka.sink import refuses_record
from calibd.transports.mqtt.sink import refuses_message


def notices(n: int, sinks: tuple[str, ...] = ("kafka", "mqtt")) -> list[Completion]:
    return [
        Completion(
            status="done",
            transport="t",
            source="s",
            event_id=f"e{i}",
            outbox=[
                OutboxRecord(
                    event_id=f"n{i}",
                    event_type="ctao.calibpipe.calibration_ready",
                    channel="products",
                    envelope=b"{}",
                    sinks=sinks,
                )
            ],
        )
        for i in range(n)
    ]


async def test_a_delivered_row_is_never_read_as_pending_again(tmp_path):
    """Two relay loops mark small batches delivered while a third coroutine reads the backlog
    without pause on the same read connection. Before the fix, a query started between another
    query's execute and fetch shared its older snapshot: 20-30 of 300 rows per sink came back
    pending after being marked delivered (published twice, attempts=2, no error)."""
    async with Store(tmp_path / "db.sqlite") as store:
        await store.commit(notices(300))
        seen_again: list[str] = []

        async def relay(sink: str) -> None:
            delivered: set[str] = set()
            while rows := await store.pending_deliveries(sink, 7):
                seen_again.extend(r.event_id for r in rows if r.event_id in delivered)
                await store.mark_delivered(sink, [r.event_id for r in rows])
                delivered.update(r.event_id for r in rows)

        async def reader() -> None:
            for _ in range(2000):
                await store.outbox_backlog()

        await asyncio.gather(relay("kafka"), relay("mqtt"), reader())
        assert seen_again == []
        attempts = {
            tuple(r)
            for r in await store.r.execute_fetchall("SELECT sink, attempts FROM outbox_deliveries")
        }
        assert attempts == {("kafka", 1), ("mqtt", 1)}
        assert await store.outbox_backlog() == {}


def test_kafka_errors_about_the_record_are_permanent_the_others_transient():
    assert refuses_record(kerr.MessageSizeTooLargeError("1.2 MB over max_request_size"))
    assert refuses_record(kerr.InvalidTopicError())
    assert refuses_record(kerr.CorruptRecordException())
    for transient in (
        kerr.KafkaConnectionError("broker down"),
        kerr.KafkaTimeoutError(),
        kerr.NotLeaderForPartitionError(),
        kerr.RequestTimedOutError(),
        kerr.TopicAuthorizationFailedError(),  # the sink's configuration, not the record
    ):
        assert not refuses_record(transient), transient


def test_mqtt_refusals_come_from_paho_itself():
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    with pytest.raises(ValueError) as wildcard:
        client.publish("ctao/calibpipe/products/a+b", b"{}", qos=1)
    assert refuses_message(wildcard.value)
    assert refuses_message(aiomqtt.MqttCodeError(paho.MQTT_ERR_PAYLOAD_SIZE, "publish"))
    assert not refuses_message(aiomqtt.MqttCodeError(paho.MQTT_ERR_NO_CONN, "publish"))
    assert not refuses_message(aiomqtt.MqttError("Disconnected during message iteration"))
    assert not refuses_message(TimeoutError())


def test_dead_letter_notice_is_bounded_whatever_the_input():
    hostile = "\ud800" + "t" * 10_000  # a lone surrogate: not encodable as UTF-8
    payload = ("é" * 3_000_000).encode()  # 6 MB of text, cut inside a character at 4 KiB
    data = dead_letter_data(
        7,
        reason="malformed",
        detail="d" * 100_000,
        transport="kafka",
        origin="o" * 5000,
        event_id=hostile,
        event_type=hostile,
        payload=payload,
    )
    wire = data.model_dump_json().encode()  # encodable, and small
    assert len(wire) < 4 * EXCERPT_BYTES
    assert data.payload_encoding == "utf-8" and data.payload_truncated
    assert data.payload == "é" * (EXCERPT_BYTES // 2) and data.payload_bytes == len(payload)
    assert len(data.event_type) == 256 and data.event_type.startswith("?t")
    binary = dead_letter_data(
        8,
        reason="r",
        detail="",
        transport="mqtt",
        origin="t",
        event_id=None,
        event_type=None,
        payload=b"\xff\xfe" * 10,
    )
    assert binary.payload_encoding == "base64" and not binary.payload_truncated
    assert payload_excerpt(b"short") == ("short", "utf-8", False)
