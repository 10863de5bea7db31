"""An agency's CAP feed, served over real HTTP on loopback: documents at paths, with
ETag and Last-Modified answered as a web server does (304 to a matching conditional
GET), a switch that takes it down (503), and a log of every request it received."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

Proxy = Callable[[str], Awaitable[tuple[int, bytes, str]]]


@dataclass
class Served:
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class FeedServer:
    port: int = 0
    files: dict[str, Served] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    down: bool = False
    # Paths not among `files` are asked of this (our own app, in the round trip).
    proxy: Proxy | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def put(
        self,
        path: str,
        body: bytes,
        content_type: str = "application/cap+xml",
        *,
        etag: bool = True,
        last_modified: str | None = None,
    ) -> str:
        tag = f'"{hashlib.sha256(body).hexdigest()[:16]}"' if etag else None
        self.files[path] = Served(body, content_type, tag, last_modified)
        return self.url(path)

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    async def _handle(self, request: web.Request) -> web.Response:
        response = await self._answer(request)
        self.seen.append(Seen(request.path, dict(request.headers), response.status))
        return response

    async def _answer(self, request: web.Request) -> web.Response:
        if self.down:
            return web.Response(status=503, text="down for maintenance")
        served = self.files.get(request.path)
        if served is None:
            if self.proxy is not None:
                status, body, content_type = await self.proxy(request.path_qs)
                return web.Response(status=status, body=body, content_type=content_type)
            return web.Response(status=404, text="no such document")
        headers = {}
        if served.etag:
            headers["ETag"] = served.etag
        if served.last_modified:
            headers["Last-Modified"] = served.last_modified
        if (served.etag and request.headers.get("If-None-Match") == served.etag) or (
            served.last_modified
            and request.headers.get("If-Modified-Since") == served.last_modified
        ):
            return web.Response(status=304, headers=headers)
        return web.Response(
            body=served.body, headers={**headers, "Content-Type": served.content_type}
        )


@asynccontextmanager
async def feed_server() -> AsyncIterator[FeedServer]:
    server = FeedServer()
    app = web.Application()
    app.router.add_get("/{tail:.*}", server._handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield server
    finally:
        await runner.cleanup()
