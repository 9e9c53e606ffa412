"""Templates (Jinja2, autoescaped, from the package) and the filters pages use."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

__all__ = ["EXCERPT_BYTES", "excerpt", "page", "pretty"]

EXCERPT_BYTES = 4096


def pretty(value: Any) -> str:
    """A JSON value (or JSON text) indented for a <pre>."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def excerpt(data: bytes | str | None, limit: int = EXCERPT_BYTES) -> str:
    """At most `limit` bytes of raw input as text (undecodable bytes replaced)."""
    if data is None:
        return ""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    text = raw[:limit].decode("utf-8", "replace")
    return text + (f"\n… ({len(raw) - limit} more bytes)" if len(raw) > limit else "")


def _query(params: dict[str, Any], **changes: Any) -> str:
    merged = {k: v for k, v in {**params, **changes}.items() if v not in (None, "", False)}
    return "?" + urlencode(merged) if merged else ""


_ENV = Environment(
    loader=PackageLoader("calibd.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters.update(pretty=pretty, excerpt=excerpt)
_ENV.globals.update(query=_query)


def page(request: Request, template: str, code: int = 200, **context: Any) -> HTMLResponse:
    html = _ENV.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=code)
