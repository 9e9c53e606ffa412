"""The read-only operators' dashboard: overview, products, a product's page with its plot and
export, dead letters, waits and configuration history, on a CalibPipe database.

Built on Starlette (routing, requests, responses; a plain ASGI application) with Jinja2
templates (autoescaped: whatever a message holds is shown as text), served by uvicorn for
`calibd web`. Why these: Starlette is small, asyncio-native and typed, so the pages await
the same async store the daemon uses, with no second database layer or thread pool; an ASGI
app can also be called by the daemon's own HTTP endpoint (`calibd.health`), so the daemon
serves the dashboard beside /healthz, /readyz and /metrics on `operations.http_port` without
a second server. Jinja2 is the templating library Starlette documents; uvicorn is its
reference server. No JavaScript: pages are HTML and one CSS file.

Modules: `app` (the application, methods and errors), `params` (query validation),
`render` (templates and filters), `pages_*` (one module per group of pages), `serve`
(`calibd web`).
"""

from calibd.web.app import create_app

__all__ = ["create_app"]
