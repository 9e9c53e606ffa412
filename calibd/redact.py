"""Keeping secrets out of errors and logs.

A setting whose name says it holds a secret (`password`, `secret`, `token`, ...; not the
`*_file` settings, which hold a path) is never echoed: configuration errors name its key
without its value, log fields of that name are replaced, and the values such keys were given
on the command line or in the environment are scrubbed from any message calibd prints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "REDACTED",
    "is_secret_key",
    "redact_log_fields",
    "redacted_url",
    "scrub",
    "secret_values",
]

REDACTED = "<redacted>"
_SECRET = re.compile(r"passw|secret|token|credential|api_?key|private_?key", re.IGNORECASE)
_MIN_SCRUB = 3  # shorter values are only hidden by key: replacing "1" everywhere garbles text


def is_secret_key(key: object) -> bool:
    """True when a setting or field of this name holds a secret (not a path to one)."""
    name = str(key)
    return bool(_SECRET.search(name)) and not name.lower().endswith(("_file", "_path"))


def _walk(node: Any, secret: bool, out: set[str]) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            _walk(value, secret or is_secret_key(key), out)
    elif isinstance(node, list | tuple):
        for value in node:
            _walk(value, secret, out)
    elif secret and node is not None:
        out.add(str(node))


def secret_values(
    overrides: Mapping[str, Any], environ: Mapping[str, str], prefix: str = "CALIBD_"
) -> set[str]:
    """The values given to secret-named keys in `overrides` and in `prefix`ed variables
    (also inside JSON given to a section, e.g. `--set 'mqtt={"password": "..."}'`)."""
    out: set[str] = set()
    _walk(overrides, False, out)
    for name, value in environ.items():
        if name.upper().startswith(prefix):
            if is_secret_key(name[len(prefix) :]):
                out.add(value)
            elif "{" in value:  # JSON given to a section may hold a secret key
                _walk(_json_or_none(value), False, out)
    return {v for v in out if len(v) >= _MIN_SCRUB}


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret replaced (longest first)."""
    for value in sorted(secrets, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


def redact_log_fields(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the value of a secret-named field is never rendered."""
    for key in event_dict:
        if is_secret_key(key):
            event_dict[key] = REDACTED
    return event_dict


_URL_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^/@:]*):[^/@]*@", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


def redacted_url(url: str) -> str:
    """`url` with its password replaced, in the user info (scheme://user:<redacted>@host/db)
    or the query (?password=<redacted>)."""
    return _QUERY_PASSWORD.sub(rf"\1{REDACTED}", _URL_PASSWORD.sub(rf"\1:{REDACTED}@", url))
