"""The products page: filters (type, telescope, category, validity start, valid at t,
superseded too) and pages of at most `MAX_LIMIT` rows."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from calibd.web import params
from calibd.web.render import page

__all__ = ["MAX_LIMIT", "products"]

MAX_LIMIT = 200
MAX_OFFSET = 1_000_000
FILTERS = {"type", "tel", "category", "since", "until", "at", "all", "limit", "offset"}


async def products(request: Request) -> Response:
    query = request.query_params
    params.known_names(query, FILTERS)
    product_type = params.text(query, "type")
    tel = params.integer(query, "tel", None, 0, 100_000)
    category = params.category(query)
    since, until, at = (params.time(query, n) for n in ("since", "until", "at"))
    if since and until and since >= until:
        raise params.BadRequest("since: must be before until")
    include_all = params.choice(query, "all", ("1",)) == "1"
    limit = params.integer(query, "limit", 50, 1, MAX_LIMIT)
    offset = params.integer(query, "offset", 0, 0, MAX_OFFSET)
    rows = await request.app.state.store.product_page(
        product_type=product_type,
        tel_id=tel,
        category=category,
        since=since,
        until=until,
        at=at,
        include_superseded=include_all,
        limit=limit + 1,
        offset=offset,
    )
    counts = await request.app.state.store.product_counts()
    shown = {k: v for k, v in query.items() if k in FILTERS and v}
    return page(
        request,
        "products.html",
        title="Products",
        rows=rows[:limit],
        more=len(rows) > limit,
        limit=limit,
        offset=offset,
        shown=shown,
        types=sorted({c["product_type"] for c in counts}),
    )
