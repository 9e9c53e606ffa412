"""The optional HTTP endpoint for operators: /healthz, /readyz and /metrics (Prometheus).

A deliberately tiny HTTP/1.0 server on asyncio streams (GET only, loopback by default), so
the daemon needs no web framework.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

__all__ = ["HealthServer"]

log = structlog.get_logger("calibd.health")

Route = Callable[[], Awaitable[tuple[int, str]]]
REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class HealthServer:
    def __init__(self, host: str, port: int, routes: dict[str, Route]) -> None:
        self.host, self.port, self.routes = host, port, routes
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("health endpoint listening", url=f"http://{self.host}:{self.port}/")
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                request = await reader.readline()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
            parts = request.decode("latin-1").split()
            if len(parts) < 2 or parts[0] not in ("GET", "HEAD"):
                code, body = 405, "GET only\n"
            elif (route := self.routes.get(parts[1].split("?")[0])) is None:
                code, body = 404, "not found\n"
            else:
                code, body = await route()
            data = body.encode()
            writer.write(
                f"HTTP/1.0 {code} {REASONS.get(code, '')}\r\n"
                f"Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                + (data if parts and parts[0] == "GET" else b"")
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()
