"""Dead letters (reason, detail, a bounded excerpt of the raw input as text), waits (with
their deadlines) and the configuration history (what changed, who, why)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from calibd.web import params
from calibd.web.render import page

__all__ = ["config_history", "dead_letters", "waits"]

WAIT_STATUSES = ("pending", "ready", "completed", "expired", "failed")


async def dead_letters(request: Request) -> Response:
    query = request.query_params
    params.known_names(query, {"reason", "limit"})
    reason = params.text(query, "reason")
    limit = params.integer(query, "limit", 50, 1, 200)
    rows = await request.app.state.store.dead_letters(limit=limit, reason=reason)
    return page(
        request, "dead_letters.html", title="Dead letters", rows=rows, reason=reason, limit=limit
    )


async def waits(request: Request) -> Response:
    query = request.query_params
    params.known_names(query, {"status", "limit"})
    status = params.choice(query, "status", WAIT_STATUSES)
    limit = params.integer(query, "limit", 100, 1, 500)
    rows = await request.app.state.store.waits(status=status, limit=limit)
    for row in rows:
        row.pop("input_message", None)
    return page(
        request, "waits.html", title="Waits", rows=rows, status=status, statuses=WAIT_STATUSES
    )


async def config_history(request: Request) -> Response:
    query = request.query_params
    params.known_names(query, {"limit"})
    limit = params.integer(query, "limit", 50, 1, 500)
    rows = await request.app.state.store.config_versions(limit=limit)
    for row in rows:
        row["changes"] = json.loads(row["changes"])
        row.pop("effective", None)
    return page(request, "config.html", title="Configuration history", rows=rows)
