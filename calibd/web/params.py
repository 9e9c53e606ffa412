"""Query-parameter validation: every value the dashboard reads from a URL is checked here;
a bad one raises BadRequest (answered 400 with the reason), never reaches the store."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from calibd.store.rules import CATEGORIES

__all__ = ["BadRequest", "category", "choice", "integer", "product_id", "text", "time"]

_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_PRODUCT_ID = re.compile(r"[0-9A-Za-z-]{1,64}")
_EARLIEST, _LATEST = datetime(1990, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


class BadRequest(Exception):
    """A request the dashboard refuses: 400 with `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _one(query: Mapping[str, str], name: str) -> str | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    if len(value) > 200:
        raise BadRequest(f"{name}: longer than 200 characters")
    return value


def integer(query: Mapping[str, str], name: str, default: int | None, low: int, high: int):
    """An integer in [low, high], or `default` when absent."""
    value = _one(query, name)
    if value is None:
        return default
    if not re.fullmatch(r"-?[0-9]{1,12}", value):
        raise BadRequest(f"{name}: not an integer: {value!r}")
    number = int(value)
    if not low <= number <= high:
        raise BadRequest(f"{name}: {number} is outside [{low}, {high}]")
    return number


def time(query: Mapping[str, str], name: str) -> datetime | None:
    """An ISO 8601 time (UTC when it has no offset) within 1990-2200, or None."""
    value = _one(query, name)
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name}: not an ISO 8601 time: {value!r}") from None
    dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    if not _EARLIEST <= dt < _LATEST:
        raise BadRequest(f"{name}: {value} is outside 1990-01-01 to 2200-01-01")
    return dt


def text(query: Mapping[str, str], name: str) -> str | None:
    """A name (letters, digits, `_.:-`, at most 64), or None."""
    value = _one(query, name)
    if value is not None and not _NAME.fullmatch(value):
        raise BadRequest(f"{name}: not a valid name: {value!r}")
    return value


def choice(query: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = _one(query, name)
    if value is not None and value not in allowed:
        raise BadRequest(f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return value


def category(query: Mapping[str, str]) -> str | None:
    return choice(query, "category", tuple(CATEGORIES))


def product_id(value: str) -> str:
    """A product id from the path (an id or a unique prefix of one)."""
    if not _PRODUCT_ID.fullmatch(value):
        raise BadRequest(f"not a product id: {value[:80]!r}")
    return value


def known_names(query: Mapping[str, str], allowed: set[str]) -> None:
    """Refuse parameters the page does not take (a typo is not silently ignored)."""
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise BadRequest(f"unknown parameter: {', '.join(unknown)[:200]}")
