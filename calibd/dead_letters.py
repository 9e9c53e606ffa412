"""Building a dead letter from whatever arrived: never raises, always storable.

The record keeps the raw bytes (cut to `pipeline.max_message_bytes`, the most calibd
processes), the headers (a header without a value as JSON null), and text fields cut to a
bound and cleaned of lone surrogates, so that writing it cannot fail on its content. Its
notification is bounded by calibd.dead_letter_notice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from calibd.codec import safe_text
from calibd.errors import MessageError
from calibd.store import DeadLetterRecord
from calibd.transports.base import RawMessage

__all__ = ["DETAIL_MAX", "build_record", "headers_json"]

DETAIL_MAX = 4000


def headers_json(headers: Sequence[tuple[Any, Any]] | None) -> str | None:
    """The transport headers as a JSON object of text (or null for a header without value)."""
    if not headers:
        return None
    out: dict[str, str | None] = {}
    for key, value in headers:
        name = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
        if value is None:
            text = None
        elif isinstance(value, bytes):
            text = value.decode("utf-8", "replace")
        else:
            text = str(value)
        out[safe_text(name, 256)] = None if text is None else safe_text(text, DETAIL_MAX)
    return json.dumps(out)


def _text(value: Any, limit: int = 1024) -> str | None:
    return None if value is None else safe_text(str(value), limit)


def build_record(
    raw: RawMessage, error: MessageError, info: dict[str, Any], max_payload: int
) -> DeadLetterRecord:
    """The dead-letter row of `raw`; `info` holds what is known of id, type and source."""
    detail = safe_text(str(error.detail), DETAIL_MAX)
    if len(raw.payload) > max_payload:
        detail += f" (payload kept: the first {max_payload} of {len(raw.payload)} bytes)"
    return DeadLetterRecord(
        origin_key=safe_text(raw.origin_key, 2048),
        transport=safe_text(raw.transport, 64),
        origin=safe_text(raw.origin, 2048),
        reason=safe_text(str(error.reason), 64),
        detail=detail,
        payload=bytes(raw.payload[:max_payload]),
        headers=headers_json(raw.headers),
        event_id=_text(info.get("id")),
        event_type=_text(info.get("type")),
        event_source=_text(info.get("source")),
    )
