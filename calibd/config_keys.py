"""Dotted configuration keys and nested configuration documents: merging, reading and
writing by key, and a handler's former names mapped to its name (used by runtime_config)."""

from __future__ import annotations

import copy
from typing import Any

from calibd.logs import get_logger

__all__ = [
    "MISSING",
    "canonical_key",
    "canonical_settings",
    "deep_merge",
    "get_path",
    "leaves",
    "set_path",
]

log = get_logger("calibd.config")

MISSING = object()
_MISSING = MISSING  # the module's own name for it


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def get_path(doc: dict[str, Any], parts: list[str]) -> Any:
    node: Any = doc
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def set_path(doc: dict[str, Any], parts: list[str], value: Any) -> None:
    node = doc
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def canonical_key(key: str, aliases: dict[str, str]) -> str:
    """`key` with a deprecated handler name (`handlers.<alias>...`,
    `profiles.<cat>.<alias>...`) replaced by the handler's name; other keys unchanged."""
    parts = key.split(".")
    at = {"handlers": 1, "profiles": 2}.get(parts[0])
    if at is None or len(parts) <= at or parts[at] not in aliases:
        return key
    new = ".".join([*parts[:at], aliases[parts[at]], *parts[at + 1 :]])
    log.warning("deprecated config key", key=key, new_key=new)
    return new


def _canonical_section(
    section: dict[str, Any], aliases: dict[str, str], prefix: str
) -> dict[str, Any]:
    """A `handlers` (or one profile's) section with deprecated handler names mapped."""
    if not any(name in aliases for name in section):
        return section
    out = {k: v for k, v in section.items() if k not in aliases}
    for old, value in section.items():
        new = aliases.get(old)
        if new is None:
            continue
        log.warning("deprecated config key", key=f"{prefix}{old}", new_key=f"{prefix}{new}")
        if new not in out:
            out[new] = value
        elif isinstance(value, dict) and isinstance(out[new], dict):
            out[new] = deep_merge(value, out[new])  # the new key's values win
    return out


def canonical_settings(doc: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    """A configuration document (`handlers`, `profiles` sections; either may be absent) with
    deprecated handler names mapped to the handlers' names."""
    if not aliases:
        return doc
    out = dict(doc)
    if isinstance(doc.get("handlers"), dict):
        out["handlers"] = _canonical_section(doc["handlers"], aliases, "handlers.")
    if isinstance(doc.get("profiles"), dict):
        out["profiles"] = {
            cat: _canonical_section(p, aliases, f"profiles.{cat}.") if isinstance(p, dict) else p
            for cat, p in doc["profiles"].items()
        }
    return out


def leaves(doc: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            out += leaves(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out
