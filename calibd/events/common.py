"""Value objects shared by several event types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

__all__ = ["DataFile", "Sha256", "StrictModel", "TelId", "UtcTime", "check_order"]


def _representable_in_utc(value: datetime) -> datetime:
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time is outside years 1-9999 once converted to UTC") from None
    return value


UtcTime = Annotated[AwareDatetime, AfterValidator(_representable_in_utc)]
"""An RFC 3339 time with its offset, in years 1-9999 also in UTC (stored as UTC text)."""

TelId = Annotated[int, Field(ge=1, le=9999, description="Telescope id (tel_id)")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="sha256, lowercase hex")]


class StrictModel(BaseModel):
    """Base of every `data` model: unknown fields are a schema violation, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_order(model: BaseModel, start: str, end: str, allow_equal: bool = False) -> None:
    """Raise ValueError unless `model.<end>` comes after `model.<start>` (None: open end)."""
    first, last = getattr(model, start), getattr(model, end)
    if last is not None and (last < first or (last == first and not allow_equal)):
        raise ValueError(f"{end} must be after {start}")


class DataFile(StrictModel):
    """A data file a message refers to; it must lie inside one of calibd's data roots."""

    uri: str = Field(
        min_length=1,
        description="Absolute path, path relative to the first data root, or file:// URI",
    )
    sha256: Sha256 | None = Field(
        default=None, description="Checksum to verify before use; recorded in provenance"
    )
    size_bytes: int | None = Field(default=None, ge=0)
