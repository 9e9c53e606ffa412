"""Publishing notifications over MQTT (QoS 1; one topic per product type)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import aiomqtt
import paho.mqtt.client as paho

from calibd.config import MqttSettings
from calibd.events import sent_on
from calibd.store.records import PendingDelivery
from calibd.transports.base import Delivered, Refused, describe
from calibd.transports.mqtt.options import client_options

__all__ = ["MqttSink", "refuses_message"]


def refuses_message(exc: BaseException) -> bool:
    """True when `exc` says this message can never be published: paho refuses the topic or
    the payload (ValueError: invalid topic, wildcard, not UTF-8, payload over 256 MiB; the
    payload-size code), or the row names no topic (KeyError). Other errors (disconnected,
    timeout) concern the connection and are retried."""
    if isinstance(exc, aiomqtt.MqttCodeError):
        return exc.rc == paho.MQTT_ERR_PAYLOAD_SIZE
    return isinstance(exc, ValueError | KeyError)


class MqttSink:
    name = "mqtt"

    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        self.channels = {channel.name: channel for channel in sent_on()}
        self._client: aiomqtt.Client | None = None

    def topic(self, row: PendingDelivery) -> str:
        return self.settings.topic_of(self.channels[row.channel], row.subtopic)

    async def _ensure(self) -> aiomqtt.Client:
        if self._client is None:
            client = aiomqtt.Client(
                **client_options(self.settings, self.settings.client_id + "-publisher"),
                clean_session=True,
                timeout=10,
            )
            async with asyncio.timeout(15):
                await client.__aenter__()
            self._client = client
        return self._client

    async def publish(
        self, rows: Sequence[PendingDelivery], delivered: Delivered, refused: Refused
    ) -> None:
        client = await self._ensure()
        limit = self.settings.max_publish_bytes
        try:
            for row in rows:
                if len(row.envelope) > limit:
                    refused(
                        row.event_id,
                        f"{len(row.envelope)} bytes, over mqtt.max_publish_bytes {limit}",
                    )
                    continue
                try:
                    async with asyncio.timeout(15):
                        await client.publish(self.topic(row), payload=row.envelope, qos=1)
                except (aiomqtt.MqttCodeError, ValueError, KeyError) as exc:
                    if not refuses_message(exc):
                        raise
                    refused(row.event_id, describe(exc))
                    continue
                delivered(row.event_id)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(Exception):  # already disconnected
                await client.__aexit__(None, None, None)
