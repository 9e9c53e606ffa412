"""The CloudEvents 1.0 envelope of every message calibd reads or writes.

Structured mode (JSON object with the attributes and `data`) on every transport; on Kafka the
binary mode (attributes as `ce_*` headers, `data` as the record value) is accepted too.
See https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from calibd.events.channels import Receive, Send
from calibd.events.common import UtcTime

__all__ = ["ENVELOPE_ATTRIBUTES", "EXTENSION_NAME", "CloudEvent", "new_event_id", "utcnow"]

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

#: CloudEvents 1.0: extension attribute names are lower-case letters or digits, at most 20
EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")
_EXTENSION_NAME_IN_SCHEMA = (  # the same, for the names that are not declared attributes
    "^(?!(" + "|".join([*ENVELOPE_ATTRIBUTES, "data"]) + ")$)[a-z0-9]{1,20}$"
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
    Extension attributes are kept as they are; as CloudEvents 1.0 requires, their names are
    1-20 lower-case letters or digits, and their values strings, booleans or 32-bit integers
    (no null, no objects or arrays). `channel` (a class attribute, see calibd.events.channels)
    says where the type travels.
    """

    channel: ClassVar[Receive | Send]
    model_config = ConfigDict(
        extra="allow",
        frozen=True,
        json_schema_extra={
            "additionalProperties": False,
            "patternProperties": {
                _EXTENSION_NAME_IN_SCHEMA: {
                    "description": "A CloudEvents extension attribute",
                    "anyOf": [
                        {"type": "string"},
                        {"type": "boolean"},
                        {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
                    ],
                }
            },
        },
    )

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=256)
    source: str = Field(min_length=1, max_length=1024)
    type: str
    time: UtcTime | None = None
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = None
    data: Any = None

    @model_validator(mode="after")
    def _extensions(self) -> Self:
        for name, value in (self.model_extra or {}).items():
            if not EXTENSION_NAME.fullmatch(name):
                raise ValueError(
                    f"extension attribute {name[:40]!r}: the name must be 1-20 lower-case "
                    "letters or digits"
                )
            ok = isinstance(value, str | bool) or (
                isinstance(value, int) and -(2**31) <= value < 2**31
            )
            if not ok:
                raise ValueError(
                    f"extension attribute {name!r}: a string, boolean or 32-bit integer is "
                    f"required, not {type(value).__name__}"
                )
        return self

    def attributes(self) -> dict[str, Any]:
        """The envelope attributes, without `data`."""
        return self.model_dump(mode="json", exclude={"data"}, exclude_none=True)
