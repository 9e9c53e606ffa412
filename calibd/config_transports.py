"""The transports' settings sections (Kafka, MQTT, ACADA trigger files); re-exported by
calibd.config."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from calibd.config_database import Section
from calibd.events import received_on
from calibd.events.channels import Send

__all__ = ["AcadaTriggerSettings", "KafkaSettings", "MqttSettings", "ordered"]


def ordered(low: float, high: float, low_name: str, high_name: str) -> None:
    if low > high:
        raise ValueError(f"{low_name} ({low}) must not exceed {high_name} ({high})")


class KafkaSettings(Section):
    enabled: bool = False
    consume: bool = Field(default=True, description="Consume `topics` (False: publish only)")
    bootstrap_servers: str = "localhost:9092"
    group_id: str = "calibd"
    client_id: str = "calibd"
    topics: list[str] = Field(
        default_factory=lambda: list(dict.fromkeys(c.kafka for c in received_on())),
        min_length=1,
        description="Default: the topics the inbound event models declare",
    )
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    commit_interval_s: float = Field(default=1.0, gt=0, le=3600)
    max_poll_records: int = Field(default=500, ge=1, le=100_000)
    max_poll_interval_ms: int = Field(default=600_000, ge=10_000, le=86_400_000)
    fetch_max_wait_ms: int = Field(
        default=100,
        ge=0,
        le=60_000,
        description="Longest a fetch waits for data (latency vs requests)",
    )
    batch_linger_ms: int = Field(
        default=5,
        ge=0,
        le=1_000,
        description=(
            "After a fetch, how long to wait for more records to fill the pipeline's batch "
            "(fewer, larger database transactions under load; at most this much latency)"
        ),
    )
    session_timeout_ms: int = Field(default=30_000, ge=6_000, le=1_800_000)
    publish: bool = Field(default=True, description="Publish notifications to Kafka")
    products_topic: str = "calibpipe.products"
    quality_topic: str = "calibpipe.quality_requests"
    reports_topic: str = "calibpipe.reports"
    dlq_topic: str = "calibpipe.dlq"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password_file: Path | None = None
    ssl_cafile: Path | None = None

    def topic_of(self, channel: Send) -> str:
        """The topic of an outbound channel: the `<channel>_topic` setting."""
        return getattr(self, f"{channel.name}_topic")


class MqttSettings(Section):
    enabled: bool = False
    consume: bool = Field(default=True, description="Subscribe to `topic_filters`")
    host: str = "localhost"
    port: int = Field(default=1883, ge=1, le=65535)
    client_id: str = Field(default="calibd", min_length=1)
    topic_filters: list[str] = Field(
        default_factory=lambda: list(dict.fromkeys(c.mqtt_filter for c in received_on())),
        min_length=1,
        description="Default: the topics the inbound event models declare",
    )
    share_group: str | None = Field(
        default=None,
        pattern=r"^[^/+#$]+$",
        description="Subscribe in this shared subscription group ($share/<group>/<filter>): "
        "instances of one group split the messages (each with its own client_id)",
    )
    keepalive_s: int = Field(default=30, ge=5, le=65_535)
    reconnect_min_s: float = Field(default=0.5, gt=0, le=3600)
    reconnect_max_s: float = Field(default=30.0, gt=0, le=3600)
    publish: bool = Field(default=True, description="Publish notifications over MQTT")
    max_publish_bytes: int = Field(
        default=268_435_455,
        ge=1,
        le=268_435_455,
        description="The largest notification published over MQTT; a larger one is refused "
        "(recorded failed in the outbox, counted and logged). Set it below the broker's "
        "max_packet_size and message_size_limit: a broker disconnects on an oversized packet "
        "(every notification behind it would wait) or drops it after acknowledging it",
    )
    products_topic_prefix: str = "ctao/calibpipe/products"
    quality_topic: str = "ctao/calibpipe/quality_requests"
    reports_topic: str = "ctao/calibpipe/reports"
    dlq_topic: str = "ctao/calibpipe/dlq"
    username: str | None = None
    password_file: Path | None = None
    tls: bool = False
    ca_file: Path | None = None

    @property
    def subscriptions(self) -> list[str]:
        """`topic_filters`, in the shared subscription of `share_group` when it is set."""
        if self.share_group is None:
            return list(self.topic_filters)
        return [f"$share/{self.share_group}/{f}" for f in self.topic_filters]

    def topic_of(self, channel: Send, product_type: str) -> str:
        """The topic of an outbound channel: `<channel>_topic`, or `<channel>_topic_prefix/`
        and the product type for a channel with one topic per product type."""
        if channel.per_product_type:
            return f"{getattr(self, f'{channel.name}_topic_prefix')}/{product_type}"
        return getattr(self, f"{channel.name}_topic")

    @model_validator(mode="after")
    def _backoffordered(self) -> MqttSettings:
        ordered(self.reconnect_min_s, self.reconnect_max_s, "reconnect_min_s", "reconnect_max_s")
        return self


class AcadaTriggerSettings(Section):
    enabled: bool = False
    directories: list[Path] = Field(default_factory=list)
    poll_interval_s: float = Field(default=2.0, gt=0, le=3600)
    lease_s: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description="The scanning lease: one instance sharing the database scans at a time "
        "(renewed every third of it, during long scans too); a standby takes over this long "
        "after the holder stops renewing it",
    )
    streams: dict[str, str] = Field(
        default={"CAL": "auto", "MUON": "ctao.acada.muon_data"},
        description=(
            "DL0 stream -> event type. 'auto' reads the file's RUNTYPE header "
            "(PEDESTAL/FLATFIELD). Streams not listed are recorded and ignored."
        ),
    )
    source: str = "ctao.acada/dl0-triggers"

    @model_validator(mode="after")
    def _lease_outlasts_polls(self) -> AcadaTriggerSettings:
        if self.lease_s <= 2 * self.poll_interval_s:
            raise ValueError("lease_s must exceed twice poll_interval_s (a standby polls for it)")
        return self
