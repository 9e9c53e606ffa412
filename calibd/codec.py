"""Turning transport bytes into validated events, and events into bytes.

`decode` accepts CloudEvents structured mode (a JSON object) and, when the transport has
headers, binary mode (`ce_*` headers + JSON `data` as the body). It raises a PoisonMessage
subclass whose detail says precisely what is wrong; `peek` recovers what it can (id, type,
source) from a bad message for the dead-letter record.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError

from calibd.errors import MalformedMessage, SchemaViolation, UnknownEventType
from calibd.events import INBOUND_MODELS, CloudEvent
from calibd.events.envelope import ENVELOPE_ATTRIBUTES

__all__ = ["decode", "encode", "peek"]

Headers = Sequence[tuple[str, bytes]]

_INBOUND = TypeAdapter(
    Annotated[Union[tuple(INBOUND_MODELS.values())], Field(discriminator="type")]  # noqa: UP007
)


def _header_map(headers: Headers | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers or ():
        try:
            out[key.lower()] = value.decode("utf-8") if isinstance(value, bytes) else str(value)
        except UnicodeDecodeError:
            raise MalformedMessage(f"header {key!r} is not UTF-8") from None
    return out


def _binary_mode_object(payload: bytes, hdrs: dict[str, str]) -> dict[str, Any]:
    obj: dict[str, Any] = {k[3:]: v for k, v in hdrs.items() if k.startswith("ce_")}
    ctype = hdrs.get("content-type", "application/json").split(";")[0].strip()
    if ctype != "application/json":
        raise MalformedMessage(f"binary-mode content-type {ctype!r} is not application/json")
    obj["datacontenttype"] = ctype
    try:
        obj["data"] = json.loads(payload) if payload else None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedMessage(f"invalid JSON in binary-mode data: {exc}") from None
    return obj


def _describe(exc: ValidationError, limit: int = 5) -> tuple[str, bool]:
    """One line per error; and whether every error lies in the envelope (not in `data`)."""
    errors = exc.errors(include_url=False)
    parts, envelope_only = [], True
    for err in errors:
        loc = [str(p) for p in err["loc"]]
        if loc and loc[0] in INBOUND_MODELS:  # drop the discriminator's union branch name
            loc = loc[1:]
        if not loc or loc[0] not in ENVELOPE_ATTRIBUTES:
            envelope_only = False
        parts.append(f"{'.'.join(loc) or '<root>'}: {err['msg']}")
    more = f" (+{len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(parts[:limit]) + more, envelope_only


def decode(payload: bytes, headers: Headers | None = None) -> CloudEvent:
    """Validate one message. Raises MalformedMessage, UnknownEventType or SchemaViolation."""
    hdrs = _header_map(headers)
    try:
        if "ce_specversion" in hdrs:
            return _INBOUND.validate_python(_binary_mode_object(payload, hdrs))
        return _INBOUND.validate_json(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        kind = first["type"]
        if kind == "json_invalid":
            raise MalformedMessage(
                f"invalid JSON: {first['ctx'].get('error', first['msg'])}"
            ) from None
        if kind in ("model_attributes_type", "dict_type", "model_type"):
            raise MalformedMessage(
                "not a CloudEvents envelope: a JSON object is required"
            ) from None
        if kind == "union_tag_not_found":
            raise MalformedMessage("missing CloudEvents attribute 'type'") from None
        if kind == "union_tag_invalid":
            found = peek(payload, headers).get("type")
            raise UnknownEventType(f"unknown event type {found!r}") from None
        text, envelope_only = _describe(exc)
        if envelope_only:
            raise MalformedMessage(f"invalid CloudEvents attributes: {text}") from None
        raise SchemaViolation(text) from None


def peek(payload: bytes, headers: Headers | None = None) -> dict[str, Any]:
    """Best-effort id/type/source of a message that may be invalid; never raises."""
    try:
        hdrs = _header_map(headers)
    except MalformedMessage:
        hdrs = {}
    if "ce_specversion" in hdrs:
        obj: Any = {k[3:]: v for k, v in hdrs.items() if k.startswith("ce_")}
    else:
        try:
            obj = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            return {}
    if not isinstance(obj, dict):
        return {}
    return {k: obj[k] for k in ("id", "type", "source") if isinstance(obj.get(k), str)}


def encode(event: CloudEvent) -> bytes:
    """Structured-mode JSON of an event (UTF-8)."""
    return event.model_dump_json(exclude_none=True).encode()
