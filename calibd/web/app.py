"""The dashboard's ASGI application: routes, GET/HEAD only, validation errors as 400."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from calibd.config import Settings
from calibd.logs import get_logger
from calibd.web import pages_operations, pages_overview, pages_product, pages_products
from calibd.web.params import BadRequest
from calibd.web.render import page

__all__ = ["create_app"]

log = get_logger("calibd.web")

Health = Callable[[], Awaitable[tuple[bool, str]]]
Live = Callable[[], Awaitable[dict[str, Any]]]
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; img-src 'self'; style-src 'self'; "
        b"form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class ReadOnly:
    """Answers 405 to any method but GET and HEAD, before routing; adds the security headers
    (no script may run: the content security policy allows none)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            response = PlainTextResponse(
                "only GET and HEAD\n", status_code=405, headers={"Allow": "GET, HEAD"}
            )
            await response(scope, receive, send)
            return

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


async def _bad_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadRequest)
    return page(request, "error.html", code=400, title="Bad request", reason=exc.reason)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return page(request, "error.html", code=exc.status_code, title="Not found", reason=exc.detail)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("dashboard page failed", path=request.url.path, error=repr(exc))
    return PlainTextResponse("internal error\n", status_code=500)


STATIC = {"style.css": "text/css", "icon.svg": "image/svg+xml"}


async def _static(request: Request) -> Response:
    name = request.path_params.get("name", "icon.svg")
    if name not in STATIC:
        raise HTTPException(404, "no such file")
    data = resources.files("calibd.web").joinpath(f"templates/{name}").read_bytes()
    return Response(data, media_type=STATIC[name], headers={"Cache-Control": "max-age=300"})


def create_app(
    store: Any, settings: Settings, health: Health | None = None, live: Live | None = None
) -> ASGIApp:
    """The dashboard on `store` (a ReadStore). `health`: the daemon's health check; without
    it (`calibd web`), health is whether the database answers. `live`: the running daemon's
    figures (throughput, in flight, consumer lag) for the overview."""
    routes = [
        Route("/", pages_overview.overview),
        Route("/products", pages_products.products),
        Route("/products/{product_id}", pages_product.product),
        Route("/products/{product_id}/plot.png", pages_product.plot),
        Route("/products/{product_id}/series.png", pages_product.series_plot),
        Route("/products/{product_id}/input", pages_product.input_message),
        Route("/products/{product_id}/export/{filename}", pages_product.export),
        Route("/dead-letters", pages_operations.dead_letters),
        Route("/waits", pages_operations.waits),
        Route("/config", pages_operations.config_history),
        Route("/static/{name}", _static),
        Route("/favicon.ico", _static),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            BadRequest: _bad_request,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )
    app.state.store, app.state.settings = store, settings
    app.state.health, app.state.live = health, live
    return ReadOnly(app)
