"""MQTT source (aiomqtt, QoS 1, persistent session, reconnect with backoff).

The client acknowledges a QoS 1 message on receipt, so each message is first written to
the durable inbox table; it is removed in the transaction that records its outcome. Rows
left by a crash are processed again at the next start.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import aiomqtt
import structlog

from calibd.config import MqttSettings
from calibd.mqtt_common import client_options
from calibd.pipeline import Pipeline
from calibd.sources.base import RawMessage
from calibd.store import Store, format_time

__all__ = ["MqttSource"]

log = structlog.get_logger("calibd.sources.mqtt")


class MqttSource:
    name = "mqtt"

    def __init__(self, settings: MqttSettings, pipeline: Pipeline, store: Store) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.store = store
        self.connected = False

    async def run(self) -> None:
        s = self.settings
        delay = s.reconnect_min_s
        was_connected: bool | None = None
        while True:
            try:
                client = aiomqtt.Client(**client_options(s, s.client_id), clean_session=False)
                async with client:
                    for topic_filter in s.topic_filters:
                        await client.subscribe(topic_filter, qos=1)
                    self.connected = True
                    if was_connected is not True:
                        log.info(
                            "mqtt connected",
                            host=s.host,
                            port=s.port,
                            filters=s.topic_filters,
                            client_id=s.client_id,
                        )
                    was_connected, delay = True, s.reconnect_min_s
                    async for message in client.messages:
                        await self._receive(message)
            except aiomqtt.MqttError as exc:
                self.connected = False
                if was_connected is not False:
                    log.warning("mqtt disconnected, reconnecting with backoff", error=str(exc))
                    was_connected = False
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, s.reconnect_max_s)

    async def _receive(self, message: aiomqtt.Message) -> None:
        payload = (
            message.payload
            if isinstance(message.payload, bytes)
            else str(message.payload or "").encode()
        )
        topic = message.topic.value
        received = format_time(datetime.now(UTC))
        inbox_id = await self.store.add_to_inbox(
            "mqtt", f"mqtt {topic}", payload, received_at=received
        )
        await self.pipeline.submit(
            inbox_raw(inbox_id, "mqtt", f"mqtt {topic}", payload, received)  # type: ignore[arg-type]
        )


def inbox_raw(
    inbox_id: int, transport: str, origin: str, payload: bytes, received_at: str
) -> RawMessage:
    """The RawMessage of an inbox row (on receipt, or when recovered after a restart).

    SQLite reuses the id of a removed row, so the dead-letter key includes the receipt time:
    with the id alone, each poison message after the first counted as a redelivery of it."""
    return RawMessage(
        transport=transport,
        origin=origin,
        origin_key=f"{transport}:inbox:{inbox_id}:{received_at}",
        payload=payload,
        inbox_id=inbox_id,
    )
