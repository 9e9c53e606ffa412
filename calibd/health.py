"""The optional HTTP endpoint for operators: /healthz, /readyz and /metrics (Prometheus), and
the dashboard (`calibd.web`, an ASGI app) on every other path.

A deliberately tiny HTTP/1.0 server on asyncio streams (GET and HEAD only, loopback by
default): it reads and bounds the request head itself and hands dashboard paths to the ASGI
app (`calibd.web.serve.call_asgi`), so the daemon needs no second server. The request head
is bounded: a request line longer than `MAX_LINE` or not of the form `METHOD /path HTTP/x.y`
is answered 400, a header line longer than `MAX_LINE`, more than `MAX_HEADERS` headers or
more than `MAX_HEAD_BYTES` of them 431, a head not complete within `HEAD_TIMEOUT_S` is
dropped. Each refused request is logged once, as one warning line; nothing a client sends
raises out of the connection handler.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from calibd.logs import get_logger

__all__ = ["HealthServer"]

log = get_logger("calibd.health")

Route = Callable[[], Awaitable[tuple[int, str]]]
Answer = tuple[int, bytes, list[tuple[str, str]]]
TEXT = [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")]
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
MAX_LINE = 8192
MAX_HEADERS = 100
MAX_HEAD_BYTES = 32768
HEAD_TIMEOUT_S = 5.0
_DISCARD_BYTES, _DISCARD_S = 1 << 20, 1.0  # read what the client still sends, then close
_REQUEST_LINE = re.compile(r"([A-Z]{1,16}) (/[\x21-\x7e]*)(?: HTTP/\d\.\d)?\r?\n")


class _Refused(Exception):
    def __init__(self, code: int, why: str) -> None:
        super().__init__(why)
        self.code, self.why = code, why


class HealthServer:
    def __init__(
        self, host: str, port: int, routes: dict[str, Route], app: Any | None = None
    ) -> None:
        self.host, self.port, self.routes, self.app = host, port, routes, app
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_LINE)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("health endpoint listening", url=f"http://{self.host}:{self.port}/")
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        method = "GET"
        try:
            try:
                async with asyncio.timeout(HEAD_TIMEOUT_S):
                    method, path = await _read_head(reader)
            except _Refused as exc:
                peer = writer.get_extra_info("peername")
                log.warning("http request refused", code=exc.code, why=exc.why, peer=str(peer))
                code, body, headers = exc.code, f"{exc.why}\n".encode(), TEXT
            else:
                code, body, headers = await self._answer(method, path)
            await _respond(writer, code, body, headers, with_body=method != "HEAD")
            await _discard_rest(reader)
        except (TimeoutError, ConnectionError, EOFError):
            pass
        except Exception as exc:  # never an unhandled exception in the event loop's log
            log.warning("http connection failed", error=repr(exc))
        finally:
            writer.close()

    async def _answer(self, method: str, path: str) -> Answer:
        if method not in ("GET", "HEAD"):
            return 405, b"GET only\n", [*TEXT, ("Allow", "GET, HEAD")]
        route = self.routes.get(path.split("?")[0])
        if route is None and self.app is not None:
            return await self._dashboard(method, path)
        if route is None:
            return 404, b"not found\n", TEXT
        try:
            code, body = await route()
        except Exception as exc:
            log.error("health route failed", path=path, error=repr(exc))
            return 500, b"internal error\n", TEXT
        return code, body.encode(), TEXT

    async def _dashboard(self, method: str, path: str) -> Answer:
        from calibd.web.serve import call_asgi

        try:
            code, headers, body = await call_asgi(self.app, method, path)
        except Exception as exc:
            log.error("dashboard failed", path=path[:200], error=repr(exc))
            return 500, b"internal error\n", TEXT
        return code, body, [h for h in headers if h[0].lower() != "content-length"]


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, str]:
    """(method, path) of the request; the headers are read and bounded, not used."""
    try:
        line = await reader.readline()
    except ValueError:  # longer than the stream limit (MAX_LINE)
        raise _Refused(400, f"request line longer than {MAX_LINE} bytes") from None
    if not line:
        raise EOFError
    match = _REQUEST_LINE.fullmatch(line.decode("latin-1"))
    if match is None:
        raise _Refused(400, "malformed request line")
    count = size = 0
    while True:
        try:
            header = await reader.readline()
        except ValueError:
            raise _Refused(431, f"header line longer than {MAX_LINE} bytes") from None
        if header in (b"\r\n", b"\n"):
            return match[1], match[2]
        if not header.endswith(b"\n"):
            raise _Refused(400, "request head ended before the blank line")
        count, size = count + 1, size + len(header)
        if count > MAX_HEADERS or size > MAX_HEAD_BYTES:
            raise _Refused(431, f"more than {MAX_HEADERS} headers or {MAX_HEAD_BYTES} bytes")


async def _respond(
    writer: asyncio.StreamWriter,
    code: int,
    data: bytes,
    headers: list[tuple[str, str]],
    with_body: bool,
) -> None:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    writer.write(
        f"HTTP/1.0 {code} {REASONS.get(code, '')}\r\n{head}"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode("latin-1")
        + (data if with_body else b"")
    )
    await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


async def _discard_rest(reader: asyncio.StreamReader) -> None:
    """Read (a bounded amount of) what the client is still sending before closing: closing
    with unread data makes the kernel reset the connection, and the client may lose the
    answer."""
    remaining = _DISCARD_BYTES
    try:
        async with asyncio.timeout(_DISCARD_S):
            while remaining > 0 and (chunk := await reader.read(min(remaining, 65536))):
                remaining -= len(chunk)
    except (TimeoutError, ConnectionError):
        pass
