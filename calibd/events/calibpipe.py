"""Events of CalibPipe itself: control requests it receives and notifications it sends."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from calibd.events.channels import CALIBPIPE_CONTROL, DLQ, PRODUCTS, QUALITY, REPORTS, Receive, Send
from calibd.events.common import StrictModel, TelId, UtcTime, check_order
from calibd.events.envelope import CloudEvent
from calibd.store.rules import Category

__all__ = [
    "CalibrationReady",
    "CalibrationReadyEvent",
    "ConfigChange",
    "ConfigChangeEvent",
    "DeadLetter",
    "DeadLetterEvent",
    "QualityRequest",
    "QualityRequestEvent",
    "Report",
    "ReportEvent",
    "ReprocessRequest",
    "ReprocessRequestEvent",
    "SettingChange",
]


# --- inbound -------------------------------------------------------------------------------


class ReprocessRequest(StrictModel):
    """Re-run the handlers on archived inputs of a period to make Cat-C products."""

    time_start: UtcTime
    time_end: UtcTime
    product_types: list[str] | None = Field(default=None, description="None: every type")
    tel_ids: list[TelId] | None = Field(default=None, description="None: every telescope")
    requested_by: str = Field(min_length=1)
    reason: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _span(self) -> Self:
        check_order(self, "time_start", "time_end")
        return self


class ReprocessRequestEvent(CloudEvent):
    """A reprocessing request. Operators/SOSS -> calibd."""

    type: Literal["ctao.calibpipe.reprocess_request"] = "ctao.calibpipe.reprocess_request"
    channel: ClassVar[Receive] = CALIBPIPE_CONTROL
    data: ReprocessRequest


class SettingChange(StrictModel):
    """One action/state pair: set the setting at dotted `key` to `value`."""

    key: str = Field(
        min_length=1,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$",
        examples=["handlers.flatfield.faulty_fraction_limit", "profiles.C.flatfield.n_pe_min"],
    )
    value: Any


class ConfigChange(StrictModel):
    """A run-time configuration change, applied atomically and recorded with who and why."""

    changes: list[SettingChange] = Field(min_length=1, max_length=100)
    requested_by: str = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=2000)


class ConfigChangeEvent(CloudEvent):
    """A configuration change request. Operators -> calibd.

    Applied only when its `source` may change those keys (`config_changes.operator_sources`,
    default `ctao.soss/operator`, and `config_changes.allowed_sources`) and every value is
    within its setting's bounds; otherwise dead-lettered (`config_unauthorised`,
    `config_rejected`) and answered with a report saying why."""

    type: Literal["ctao.calibpipe.config_change"] = "ctao.calibpipe.config_change"
    channel: ClassVar[Receive] = CALIBPIPE_CONTROL
    data: ConfigChange


# --- outbound ------------------------------------------------------------------------------


class CalibrationReady(StrictModel):
    """A calibration product is stored and can be used."""

    product_id: str
    product_type: str
    tel_id: TelId | None = None
    category: Category
    valid_from: UtcTime
    valid_to: UtcTime | None = None
    algorithm: str
    algorithm_version: str
    config_hash: str = Field(description="sha256 of the configuration the product was made with")
    input_event_id: str = Field(description="Envelope id of the message that led to the product")
    summary: dict[str, Any] = Field(default_factory=dict)


class CalibrationReadyEvent(CloudEvent):
    """A product is ready. calibd -> DataPipe, QualPipe, anyone listening."""

    type: Literal["ctao.calibpipe.calibration_ready"] = "ctao.calibpipe.calibration_ready"
    channel: ClassVar[Send] = PRODUCTS
    data: CalibrationReady


class QualityRequest(StrictModel):
    """Ask QualPipe to assess a product; QualPipe answers with ctao.qualpipe.assessment
    quoting this envelope's id as request_id."""

    product_id: str
    product_type: str
    tel_id: TelId | None = None
    reason: str = Field(min_length=1)
    metrics: dict[str, Any] = Field(default_factory=dict)
    respond_by: UtcTime | None = None


class QualityRequestEvent(CloudEvent):
    """A quality request. calibd -> QualPipe."""

    type: Literal["ctao.calibpipe.quality_request"] = "ctao.calibpipe.quality_request"
    channel: ClassVar[Send] = QUALITY
    data: QualityRequest


class Report(StrictModel):
    """A report for the operations side (SOSS/TOSS)."""

    report_type: str = Field(
        min_length=1,
        examples=["fram_down"],
        description="fram_down (FRAM data missing: method used, uncertainty, QualPipe's "
        "verdict), camera_pairing_failed (a flat-field run found no pedestal in time), "
        "config_change (accepted or refused), reprocessing (redone, skipped, failed)",
    )
    title: str
    period_start: UtcTime | None = None
    period_end: UtcTime | None = None
    product_ids: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)


class ReportEvent(CloudEvent):
    """A report. calibd -> SOSS/TOSS."""

    type: Literal["ctao.calibpipe.report"] = "ctao.calibpipe.report"
    channel: ClassVar[Send] = REPORTS
    data: Report


class DeadLetter(StrictModel):
    """A message calibd could not process, published to the dead-letter channel. Bounded by
    design: text fields are cut to a fixed length and the message to an excerpt."""

    dead_letter_id: int
    reason: str = Field(
        description="malformed, undecodable, too_large, unknown_type, schema_violation, "
        "conflicting_duplicate, bad_input, handler_failed, unstorable, wait_failed, ..."
    )
    detail: str
    transport: str
    origin: str = Field(description="Where it came from: topic/partition/offset, MQTT topic, file")
    event_id: str | None = None
    event_type: str | None = None
    payload: str = Field(
        description="The first 4 KiB of the message as received (UTF-8, or base64 if binary); "
        "the whole message is kept in the dead letter (`calibd dead-letters`)"
    )
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    payload_bytes: int | None = Field(None, description="Size of the whole message as received")
    payload_truncated: bool = Field(False, description="`payload` is an excerpt")


class DeadLetterEvent(CloudEvent):
    """A dead letter. calibd -> operators' dead-letter channel."""

    type: Literal["ctao.calibpipe.dead_letter"] = "ctao.calibpipe.dead_letter"
    channel: ClassVar[Send] = DLQ
    data: DeadLetter
