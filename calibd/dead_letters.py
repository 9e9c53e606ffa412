"""Building a dead letter from whatever arrived: never raises, always storable.

The record keeps the raw bytes (cut to `pipeline.max_message_bytes`, the most calibd
processes), the headers (a header without a value as JSON null), and text fields cut to a
bound and cleaned of lone surrogates, so that writing it cannot fail on its content. The
notification on the dead-letter channel carries at most `NOTICE_PAYLOAD_MAX` bytes of the
message (brokers limit record sizes), saying when it is cut.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from calibd.codec import safe_text
from calibd.errors import MessageError
from calibd.events.calibpipe import DeadLetter, DeadLetterEvent
from calibd.events.envelope import new_event_id
from calibd.sources.base import RawMessage
from calibd.store import DeadLetterRecord

__all__ = ["DETAIL_MAX", "NOTICE_PAYLOAD_MAX", "build_notice", "build_record", "headers_json"]

DETAIL_MAX = 4000
NOTICE_PAYLOAD_MAX = 64 * 1024


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


def build_notice(
    record: DeadLetterRecord, dead_letter_id: int, source_uri: str, payload_bytes: int
) -> DeadLetterEvent:
    """The `ctao.calibpipe.dead_letter` event announcing `record`."""
    body = record.payload[:NOTICE_PAYLOAD_MAX]
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(body).decode(), "base64"
    return DeadLetterEvent(
        id=new_event_id(),
        source=source_uri,
        time=datetime.now(UTC),
        subject=str(dead_letter_id),
        data=DeadLetter(
            dead_letter_id=dead_letter_id,
            reason=record.reason,
            detail=record.detail,
            transport=record.transport,
            origin=record.origin,
            event_id=record.event_id,
            event_type=record.event_type,
            payload=text,
            payload_encoding=encoding,  # type: ignore[arg-type]
            payload_bytes=payload_bytes,
            payload_truncated=payload_bytes > len(body),
        ),
    )
