"""Channels are declared once on the event models; subscriptions, sinks and AsyncAPI follow."""

from __future__ import annotations

from calibd import schemas_export
from calibd.config import KafkaSettings, MqttSettings
from calibd.events import INBOUND_MODELS, OUTBOUND_MODELS, received_on, sent_on
from calibd.events.channels import Receive, Send
from calibd.pipeline.outbound import CHANNEL_OF_TYPE
from calibd.store import PendingDelivery
from calibd.transports.kafka.sink import KafkaSink
from calibd.transports.mqtt.sink import MqttSink


def test_every_model_declares_a_channel_of_its_direction():
    for model in INBOUND_MODELS.values():
        assert isinstance(model.channel, Receive), model
    for model in OUTBOUND_MODELS.values():
        assert isinstance(model.channel, Send), model


def test_default_subscriptions_cover_every_inbound_channel():
    k, m = KafkaSettings(), MqttSettings()
    for channel in received_on():
        assert channel.kafka in k.topics
        assert channel.mqtt_filter in m.topic_filters
    assert len(k.topics) == len(set(k.topics)) == 5


def row(channel: str, subtopic: str | None) -> PendingDelivery:
    return PendingDelivery(1, "e", "t", channel, subtopic, None, b"{}")


def test_every_outbound_channel_has_a_topic_on_both_brokers():
    kafka = KafkaSink(KafkaSettings(products_topic="p", dlq_topic="d"))
    mqtt = MqttSink(MqttSettings(products_topic_prefix="x/p", dlq_topic="x/d"))
    for channel, types in sent_on().items():
        assert all(CHANNEL_OF_TYPE[t] == channel.name for t in types)
        assert kafka.topics[channel.name]
        assert mqtt.topic(row(channel.name, "camera_pedestal"))
    assert kafka.topics["products"] == "p" and kafka.topics["dlq"] == "d"
    assert mqtt.topic(row("products", "camera_gain")) == "x/p/camera_gain"
    assert mqtt.topic(row("dlq", None)) == "x/d"


def test_asyncapi_channels_follow_the_models():
    channels = schemas_export._channels()
    kafka_in = {
        c["address"]: c["types"]
        for c in channels
        if c["id"].startswith("kafka-") and c["dir"] == "receive"
    }
    assert kafka_in == {c.kafka: types for c, types in received_on().items()}
    sent = {t for c in channels if c["dir"] == "send" for t in c["types"]}
    assert sent == set(OUTBOUND_MODELS)
