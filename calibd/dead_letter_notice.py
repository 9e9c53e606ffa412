"""The dead-letter notification, bounded by design: whatever a rejected message holds, its
notice stays a few KiB (an excerpt of the message, cut text fields, the dead letter's id), so
it fits every sink. The whole message stays in the `dead_letters` table."""

from __future__ import annotations

import base64

from calibd.events.calibpipe import DeadLetter

__all__ = ["EXCERPT_BYTES", "bounded_text", "dead_letter_data", "payload_excerpt"]

EXCERPT_BYTES = 4096
"""How much of the message a notice carries."""
DETAIL_CHARS = 2000
FIELD_CHARS = 256
"""Ids, types, origins: all input-controlled, so cut too."""


def bounded_text(text: str | None, limit: int = FIELD_CHARS) -> str | None:
    """`text` as valid UTF-8 (lone surrogates replaced) and at most `limit` characters."""
    if text is None:
        return None
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def payload_excerpt(payload: bytes, limit: int = EXCERPT_BYTES) -> tuple[str, str, bool]:
    """(excerpt, "utf-8" or "base64", truncated) of the first `limit` bytes of a message."""
    head, truncated = payload[:limit], len(payload) > limit
    try:
        return head.decode("utf-8"), "utf-8", truncated
    except UnicodeDecodeError as exc:
        # text cut inside its last character is still text
        if truncated and exc.reason == "unexpected end of data":
            try:
                return head[: exc.start].decode("utf-8"), "utf-8", truncated
            except UnicodeDecodeError:
                pass
    return base64.b64encode(head).decode(), "base64", truncated


def dead_letter_data(
    dead_letter_id: int,
    *,
    reason: str,
    detail: str,
    transport: str,
    origin: str,
    event_id: str | None,
    event_type: str | None,
    payload: bytes,
    size: int | None = None,
) -> DeadLetter:
    """The `data` of a `ctao.calibpipe.dead_letter` notice (see the module docstring);
    `size` is the whole message's size when `payload` is already a cut of it."""
    excerpt, encoding, truncated = payload_excerpt(payload)
    size = len(payload) if size is None else size
    return DeadLetter(
        dead_letter_id=dead_letter_id,
        reason=bounded_text(reason),  # type: ignore[arg-type]
        detail=bounded_text(detail, DETAIL_CHARS),  # type: ignore[arg-type]
        transport=bounded_text(transport),  # type: ignore[arg-type]
        origin=bounded_text(origin),  # type: ignore[arg-type]
        event_id=bounded_text(event_id),
        event_type=bounded_text(event_type),
        payload=excerpt,
        payload_encoding=encoding,  # type: ignore[arg-type]
        payload_bytes=size,
        payload_truncated=truncated or size > len(payload),
    )
