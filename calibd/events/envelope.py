"""The CloudEvents 1.0 envelope of every message calibd reads or writes.

Structured mode (JSON object with the attributes and `data`) on every transport; on Kafka the
binary mode (attributes as `ce_*` headers, `data` as the record value) is accepted too.
See https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = ["ENVELOPE_ATTRIBUTES", "CloudEvent", "new_event_id", "utcnow"]

ENVELOPE_ATTRIBUTES = (
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "subject",
    "datacontenttype",
    "dataschema",
)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def new_event_id() -> str:
    """A fresh envelope id (UUID4)."""
    return str(uuid.uuid4())


class CloudEvent(BaseModel):
    """CloudEvents 1.0 attributes; subclasses pin `type` to a Literal and type `data`.

    Producers must keep `source` + `id` unique per distinct event: calibd deduplicates on
    that pair, so a redelivered message never makes a second product.
    Extension attributes (lower-case names) are kept as they are.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=256)
    source: str = Field(min_length=1, max_length=1024)
    type: str
    time: AwareDatetime | None = None
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = None
    data: Any = None

    def attributes(self) -> dict[str, Any]:
        """The envelope attributes, without `data`."""
        return self.model_dump(mode="json", exclude={"data"}, exclude_none=True)
