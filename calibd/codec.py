"""Turning transport bytes into validated events, and events into bytes.

`decode` accepts CloudEvents structured mode (a JSON object) and, when the transport has
headers, binary mode (`ce_*` headers + JSON `data` as the body). Both go through pydantic's
JSON validator in strict mode: no coercion (`"5050"` is not a number, `true` is not 1), and
`specversion` is required. JSON is parsed by pydantic-core (jiter), whose nesting limit turns
a document nested thousands deep into an "invalid JSON" error instead of a RecursionError.
`decode` raises only PoisonMessage subclasses (whatever the bytes and headers are), whose
detail says precisely what is wrong; `peek` recovers what it can (id, type, source) from a
bad message for the dead-letter record and never raises.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import from_json

from calibd.errors import MalformedMessage, PoisonMessage, SchemaViolation, UnknownEventType
from calibd.events import INBOUND_MODELS, CloudEvent
from calibd.events.envelope import ENVELOPE_ATTRIBUTES

__all__ = ["decode", "encode", "peek", "safe_text", "stored_form"]

Headers = Sequence[tuple[str, bytes | None]]

_INBOUND = TypeAdapter(
    Annotated[Union[tuple(INBOUND_MODELS.values())], Field(discriminator="type")]  # noqa: UP007
)


def _header_map(headers: Headers | None) -> dict[str, str]:
    """Header names lower-cased -> UTF-8 values. A header without a value (Kafka allows a
    null value) is left out, unless it is a `ce_*` attribute: then the message is malformed."""
    out: dict[str, str] = {}
    for key, value in headers or ():
        name = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
        if value is None:
            if name.lower().startswith("ce_"):
                raise MalformedMessage(f"header {name!r} has no value")
            continue
        try:
            out[name.lower()] = value.decode("utf-8") if isinstance(value, bytes) else str(value)
        except UnicodeDecodeError:
            raise MalformedMessage(f"header {name!r} is not UTF-8") from None
    return out


def _binary_mode_json(payload: bytes, hdrs: dict[str, str]) -> str:
    """The structured-mode JSON of a binary-mode message, so both modes validate alike."""
    obj: dict[str, Any] = {k[3:]: v for k, v in hdrs.items() if k.startswith("ce_")}
    ctype = hdrs.get("content-type", "application/json").split(";")[0].strip()
    if ctype != "application/json":
        raise MalformedMessage(f"binary-mode content-type {ctype!r} is not application/json")
    obj["datacontenttype"] = ctype
    try:
        obj["data"] = from_json(payload) if payload else None
    except ValueError as exc:
        raise MalformedMessage(f"invalid JSON in binary-mode data: {exc}") from None
    return json.dumps(obj)


def _describe(exc: ValidationError, limit: int = 5) -> tuple[str, bool]:
    """One line per error; and whether every error lies in the envelope (not in `data`)."""
    errors = exc.errors(include_url=False)
    parts, envelope_only = [], True
    for err in errors:
        loc = [str(p) for p in err["loc"]]
        if loc and loc[0] in INBOUND_MODELS:  # drop the discriminator's union branch name
            loc = loc[1:]
        if loc and loc[0] not in ENVELOPE_ATTRIBUTES:  # <root>: the envelope's own check
            envelope_only = False
        parts.append(f"{'.'.join(loc) or '<root>'}: {err['msg']}")
    more = f" (+{len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(parts[:limit]) + more, envelope_only


def decode(payload: bytes, headers: Headers | None = None) -> CloudEvent:
    """Validate one message. Raises MalformedMessage, UnknownEventType or SchemaViolation,
    and nothing else: an unexpected failure of the validator itself is a MalformedMessage."""
    try:
        return _decode(payload, headers)
    except PoisonMessage:
        raise
    except Exception as exc:  # no input may escape as another exception
        raise MalformedMessage(
            f"undecodable message ({type(exc).__name__}: {str(exc)[:200]})", reason="undecodable"
        ) from None


def _decode(payload: bytes, headers: Headers | None) -> CloudEvent:
    hdrs = _header_map(headers)
    try:
        if "ce_specversion" in hdrs:
            event = _INBOUND.validate_json(_binary_mode_json(payload, hdrs), strict=True)
        else:
            event = _INBOUND.validate_json(payload, strict=True)
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
    if "specversion" not in event.model_fields_set:
        raise MalformedMessage("missing CloudEvents attribute 'specversion'")
    return event


def peek(payload: bytes, headers: Headers | None = None) -> dict[str, Any]:
    """Best-effort id/type/source of a message that may be invalid; never raises.

    Values are strings that SQLite can store (no lone surrogates), at most 1024 characters."""
    try:
        hdrs = _header_map(headers)
    except MalformedMessage:
        hdrs = {}
    if "ce_specversion" in hdrs:
        obj: Any = {k[3:]: v for k, v in hdrs.items() if k.startswith("ce_")}
    else:
        try:
            obj = from_json(payload)
        except (ValueError, TypeError):
            return {}
    if not isinstance(obj, dict):
        return {}
    return {
        k: safe_text(obj[k], 1024) for k in ("id", "type", "source") if isinstance(obj.get(k), str)
    }


def safe_text(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, lone surrogates replaced: always encodable as UTF-8."""
    return text[:limit].encode("utf-8", "replace").decode("utf-8")


def stored_form(payload: bytes, headers: Headers | None, event: CloudEvent) -> bytes:
    """The bytes to keep as a decoded message's input (provenance, waits, retries): the
    message as received in structured mode; in binary mode, whose attributes live in the
    headers, the structured-mode encoding of the event, so it decodes again on its own."""
    names = (
        k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k) for k, _ in headers or ()
    )
    if any(n.lower() == "ce_specversion" for n in names):
        return encode(event)
    return payload


def encode(event: CloudEvent) -> bytes:
    """Structured-mode JSON of an event (UTF-8)."""
    return event.model_dump_json(exclude_none=True).encode()
