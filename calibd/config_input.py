"""Settings as people give them: `--set KEY=VALUE` overrides, and validation errors
written back as `key: problem (got value)` lines that never show a secret (nor the password
of a URL)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from calibd.errors import ConfigurationError
from calibd.redact import is_secret_key, redacted_url

__all__ = ["format_errors", "parse_overrides"]


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`["kafka.enabled=true", "pipeline.workers=2"]` -> nested dict. Values are JSON or strings."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():  # no "=": the item may be a secret itself, not shown
            raise ConfigurationError("invalid override: expected KEY=VALUE after --set")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = out
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigurationError(
                    f"invalid override of {key.strip()}: {part} is not a section"
                )
        node[leaf] = value
    return out


def format_errors(exc: ValidationError, prefix: str = "") -> list[str]:
    """One `key: problem (got value)` per error; a secret-named key's value is never shown."""
    lines = []
    for err in exc.errors(include_url=False):
        if not err["loc"] and "error" in err.get("ctx", {}):  # a model validator's message
            where = f"{prefix.rstrip('.')}: " if prefix else ""
            lines.append(f"  {where}{err['ctx']['error']}")  # names its own keys
            continue
        key = prefix + (".".join(str(p) for p in err["loc"]) or "<root>")
        given = err.get("input")
        secret = any(is_secret_key(p) for p in key.split("."))
        if isinstance(given, str):
            given = redacted_url(given)  # a URL's password is never shown
        shown = (
            "" if secret or isinstance(given, dict | list) or given is None else f" (got {given!r})"
        )
        hint = (
            " (secrets are read from files: kafka.sasl_password_file, mqtt.password_file)"
            if secret and err["type"] == "extra_forbidden"
            else ""
        )
        lines.append(f"{key}: {err['msg']}{shown}{hint}")
    return lines
