"""MQTT source: QoS 1, persistent session, acknowledged only once the message is durable.

paho-mqtt 2.x runs the connection in its own thread with manual acknowledgement
(``manual_ack=True``): a PUBLISH is written to the durable inbox table first (a batch of them
in one transaction), and only then is its PUBACK sent. Until then the broker counts it as in
flight, so the broker's in-flight window (Mosquitto's ``max_inflight_messages``) is the
backpressure, and a crash or a stop at any moment leaves every unacknowledged message with the
broker, which delivers it again to the persistent session. A message received twice that way is
recorded twice in the inbox and made into one product by the processed ledger.

aiomqtt, used before, acknowledges on receipt and has no manual-ack API (aiomqtt issue 345);
paho's is public and documented, so the source uses paho directly. The MQTT sink stays on
aiomqtt (publishing needs no manual acknowledgement).

Packet ids are per connection: an acknowledgement is sent only on the connection that delivered
the message; after a reconnect the broker delivers the message again and that copy is acked.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from calibd.config import MqttSettings, SecretFile
from calibd.logs import get_logger
from calibd.transports.base import Admission

__all__ = ["MqttSource"]

log = get_logger("calibd.transports.mqtt.source")

INBOX_BATCH_MAX = 200
"""At most this many received messages are written to the inbox in one transaction."""


@dataclass(frozen=True, slots=True)
class _Received:
    connection: int
    mid: int
    qos: int
    topic: str
    payload: bytes


class MqttSource:
    name = "mqtt"

    def __init__(self, settings: MqttSettings, pipeline: Admission) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.connected = False
        self.received = 0
        self.acknowledged = 0
        self._connection = 0  # bumped on every connect and disconnect, under _ack_lock
        self._ack_lock = threading.Lock()
        self._was_connected: bool | None = None

    def _client(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> paho.Client:
        s = self.settings
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            clean_session=False,
            protocol=paho.MQTTv311,
            manual_ack=True,
        )
        if s.username:
            password = SecretFile(path=s.password_file).read() if s.password_file else None
            client.username_pw_set(s.username, password)
        if s.tls:
            client.tls_set_context(
                ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
            )
        client.reconnect_delay_set(
            max(1, round(s.reconnect_min_s)), max(1, round(s.reconnect_max_s))
        )

        # The three callbacks run in paho's network thread.
        def on_connect(client, _userdata, _flags, reason, _props) -> None:
            with self._ack_lock:
                self._connection += 1
            if reason.is_failure:
                loop.call_soon_threadsafe(self._disconnected, str(reason))
                return
            client.subscribe([(f, 1) for f in s.subscriptions])
            loop.call_soon_threadsafe(self._on_connected)

        def on_disconnect(_client, _userdata, _flags, reason, _props) -> None:
            with self._ack_lock:
                self._connection += 1
            loop.call_soon_threadsafe(self._disconnected, str(reason))

        def on_message(_client, _userdata, message: paho.MQTTMessage) -> None:
            item = _Received(
                self._connection, message.mid, message.qos, message.topic, bytes(message.payload)
            )
            loop.call_soon_threadsafe(queue.put_nowait, item)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        return client

    def _on_connected(self) -> None:
        self.connected = True
        if self._was_connected is not True:
            s = self.settings
            log.info(
                "mqtt connected",
                host=s.host,
                port=s.port,
                filters=s.subscriptions,
                client_id=s.client_id,
            )
        self._was_connected = True

    def _disconnected(self, reason: str) -> None:
        self.connected = False
        if self._was_connected is not False:
            log.warning("mqtt disconnected, reconnecting with backoff", error=reason)
        self._was_connected = False

    async def close(self) -> None:
        """Nothing to do: `run` disconnects when it ends (unacknowledged messages stay)."""

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Received] = asyncio.Queue()
        client = self._client(loop, queue)
        s = self.settings
        client.connect_async(s.host, s.port, keepalive=s.keepalive_s)
        client.loop_start()
        try:
            while True:
                batch = [await queue.get()]
                while not queue.empty() and len(batch) < INBOX_BATCH_MAX:
                    batch.append(queue.get_nowait())
                await self._take(client, batch)
        finally:
            # Whatever is not yet in the inbox stays unacknowledged: the broker keeps it.
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)
            self.connected = False

    async def _take(self, client: paho.Client, batch: list[_Received]) -> None:
        """Inbox first (one transaction), then PUBACK, then hand over to the pipeline."""
        raws = await self.pipeline.receive_durably(
            "mqtt", [(f"mqtt {r.topic}", r.payload) for r in batch]
        )
        self.received += len(batch)
        with self._ack_lock:
            for r in batch:
                if r.qos > 0 and r.connection == self._connection:
                    client.ack(r.mid, r.qos)
                    self.acknowledged += 1
        for raw in raws:
            await self.pipeline.submit(raw)
