"""Events sent by QualPipe (quality assessment). Sender: QualPipe. Receiver: calibd."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from calibd.events.channels import QUALPIPE_ASSESSMENTS, Receive
from calibd.events.common import StrictModel
from calibd.events.envelope import CloudEvent

__all__ = ["AssessmentEvent", "QualityAssessment"]


class QualityAssessment(StrictModel):
    """QualPipe's verdict on a calibration product calibd asked it to assess."""

    request_id: str = Field(min_length=1, description="Envelope id of the quality request")
    product_id: str = Field(min_length=1)
    verdict: Literal["acceptable", "unacceptable", "undetermined"]
    comment: str | None = Field(default=None, max_length=10_000)
    metrics: dict[str, Any] = Field(default_factory=dict)


class AssessmentEvent(CloudEvent):
    """A quality assessment. QualPipe -> calibd."""

    type: Literal["ctao.qualpipe.assessment"] = "ctao.qualpipe.assessment"
    channel: ClassVar[Receive] = QUALPIPE_ASSESSMENTS
    data: QualityAssessment
