"""The text form of times in the database: sortable UTC, microseconds, a trailing Z."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_time", "now_text", "parse_time"]


def format_time(dt: datetime | None) -> str | None:
    """Sortable UTC text form used in every time column (the year always 4 digits)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str | None) -> datetime | None:
    """The aware datetime of a stored time (None for None)."""
    return None if text is None else datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def now_text() -> str:
    """The current time in its stored form."""
    return format_time(datetime.now(UTC))  # type: ignore[return-value]
