"""`calibd web`: the dashboard on an existing database, served by uvicorn; and `call_asgi`,
which lets the daemon's HTTP endpoint (`calibd.health`) answer dashboard paths."""

from __future__ import annotations

from typing import Any

from calibd.config import Settings
from calibd.errors import ConfigurationError
from calibd.logs import get_logger

__all__ = ["call_asgi", "serve"]

log = get_logger("calibd.web")
MAX_BODY = 512 << 20


async def call_asgi(app: Any, method: str, target: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """Run one bodiless request through an ASGI app: (status, headers, body)."""
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.0",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": [],
        "client": None,
        "server": None,
    }
    status, headers, body = 500, [], bytearray()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message["headers"]]
        elif message["type"] == "http.response.body" and len(body) < MAX_BODY:
            body.extend(message.get("body", b""))

    await app(scope, receive, send)
    return status, headers, bytes(body)


def serve(settings: Settings, host: str, port: int) -> int:
    """Serve the dashboard on an existing database (SQLite, or PostgreSQL with
    `database.url`; checked, never migrated) until SIGTERM or SIGINT; 0 then."""
    import asyncio

    import uvicorn

    from calibd.daemon import load_handlers
    from calibd.store.factory import database_shown, make_store
    from calibd.web.app import create_app

    class Server(uvicorn.Server):
        """uvicorn's server without its re-raising of the stop signal after shutdown (the
        process would end killed by it, an exit status systemd reports as a failure)."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    if settings.database.url is None and not settings.database_path.is_file():
        raise ConfigurationError(
            f"no database at {settings.database_path} (calibd web reads an existing one)"
        )
    load_handlers(settings.pipeline.handler_modules)  # their exporters
    shown = database_shown(settings)

    async def run() -> None:
        async with make_store(settings, migrate=False) as store:
            app = create_app(store, settings)
            config = uvicorn.Config(
                app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
            )
            server = Server(config)
            log.info("dashboard listening", url=f"http://{host}:{port}/", database=shown)
            await server.serve()

    asyncio.run(run())
    return 0
