"""Where each message type travels, declared once on its model (`CloudEvent.channel`).

An inbound model names its `Receive` channel: the Kafka topic it is consumed from and the MQTT
topic its producer publishes under. An outbound model names its `Send` channel; the topics of
a send channel are the configurable `<name>_topic` settings of each broker. The default
subscriptions, the sinks' topic tables and the AsyncAPI document are all derived from these.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACADA_CALIBRATION",
    "ACADA_MONITORING",
    "CALIBPIPE_CONTROL",
    "DLQ",
    "PRODUCTS",
    "QUALITY",
    "QUALPIPE_ASSESSMENTS",
    "REPORTS",
    "SIMPIPE_PRODUCTIONS",
    "Receive",
    "Send",
]


@dataclass(frozen=True)
class Receive:
    """An inbound channel: Kafka topic `kafka`; MQTT topics under `mqtt` (filter `mqtt/#`)."""

    kafka: str
    mqtt: str

    @property
    def mqtt_filter(self) -> str:
        return f"{self.mqtt}/#"

    @property
    def mqtt_name(self) -> str:
        """Short name of the MQTT channel (its last topic level)."""
        return self.mqtt.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Send:
    """An outbound channel; `per_product_type`: one MQTT topic per product type."""

    name: str
    per_product_type: bool = False


ACADA_CALIBRATION = Receive(kafka="acada.calibration", mqtt="ctao/acada")
ACADA_MONITORING = Receive(kafka="acada.monitoring", mqtt="ctao/acada")
SIMPIPE_PRODUCTIONS = Receive(kafka="simpipe.productions", mqtt="ctao/simpipe")
QUALPIPE_ASSESSMENTS = Receive(kafka="qualpipe.assessments", mqtt="ctao/qualpipe")
CALIBPIPE_CONTROL = Receive(kafka="calibpipe.control", mqtt="ctao/calibpipe/control")

PRODUCTS = Send("products", per_product_type=True)
QUALITY = Send("quality")
REPORTS = Send("reports")
DLQ = Send("dlq")
