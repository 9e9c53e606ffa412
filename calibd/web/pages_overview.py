"""The overview page: health, the daemon's throughput and consumer lag (when it serves the
page), outbox backlog, dead letters, waits, products per type and telescope."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from calibd.web.params import known_names
from calibd.web.render import page

__all__ = ["overview"]


async def _health(request: Request) -> tuple[bool, str]:
    health = request.app.state.health
    if health is not None:
        return await health()
    try:
        async with asyncio.timeout(5):
            await request.app.state.store.counts()
    except Exception as exc:
        return False, f"database: {exc}"
    return True, "database answering (no daemon attached: `calibd web`)"


async def overview(request: Request) -> Response:
    known_names(request.query_params, set())
    store = request.app.state.store
    healthy, why = await _health(request)
    counts = await store.counts()
    backlog = await store.outbox_backlog()
    per_type = await store.product_counts()
    waits = await store.waits(status="pending", limit=10)
    live = request.app.state.live
    return page(
        request,
        "overview.html",
        title="Overview",
        healthy=healthy,
        why=why,
        counts=counts,
        backlog=backlog,
        per_type=per_type,
        waits=waits,
        live=await live() if live is not None else None,
        database=str(request.app.state.settings.database_path),
    )
