"""The outermost middleware: request id, body limit, access log, metrics, last resort.

The body limit is ours rather than FastAPI's `max_body_size`: that one sits outside
user middleware and answers an oversized declared body in plain text, not as a problem.
Pure ASGI (no BaseHTTPMiddleware), so that streaming bodies and WebSockets pass
through untouched and the per-request cost stays small.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from app.logs import request_id_var
from app.metrics import Metrics
from app.problems import Problem, ProblemDetail

log = logging.getLogger("app.access")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# FastAPI renders a 204 through the route's JSON response class, which labels the empty
# body `application/json`; a 204 (RFC 9110 §15.3.5) has no content to describe, and a
# 304 none of its own. Stripped here, the outermost layer, so that no route can miss it.
BODILESS_STATUSES = frozenset({204, 304})
_ENTITY_HEADERS = frozenset({b"content-type", b"content-length"})


def _trusted(address: str, proxies: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(conn: HTTPConnection) -> str:
    """The client's address, for every per-address limit: the TCP peer, unless the peer
    is one of NW_TRUSTED_PROXIES; then the rightmost hop of X-Forwarded-For that is not
    a trusted proxy (hops further left were written by whoever sent the request, and
    prove nothing). uvicorn's own proxy-header rewriting is off (app.cli), so the peer
    here is the socket's."""
    peer = conn.client.host if conn.client else "unknown"
    proxies: Sequence[IPv4Network | IPv6Network] = conn.app.state.settings.trusted_proxies
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [
        hop.strip()
        for value in conn.headers.getlist("x-forwarded-for")
        for hop in value.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


class BodyTooLarge(Problem, StarletteHTTPException):  # type: ignore[misc]
    """Raised from `receive` mid-body. Being an HTTPException, FastAPI's body reader lets
    it through (anything else it reports as a 400), and the problem handler answers it."""

    def __init__(self, limit: int) -> None:
        Problem.__init__(
            self, 413, f"The request body exceeds {limit} bytes.", kind="body-too-large"
        )
        self.status_code = 413


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        metrics: Metrics,
        body_limits: Sequence[tuple[str, int]] = (),
        websockets: Mapping[str, Callable[[WebSocket], Awaitable[None]]] | None = None,
    ) -> None:
        self.app = app
        # WebSocket endpoints served from here, not through the framework's stack: a
        # connection stays open for hours, and each layer below keeps its frames and
        # wraps every message sent (bench/ws_fanout.py: 64 → 46 KiB a connection).
        self.websockets = dict(websockets or {})
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        # Larger limits for the few routes that take files: (path regex, bytes).
        self.body_limits = [(re.compile(pattern), limit) for pattern, limit in body_limits]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        # A client's id is kept when it is harmless, so that its logs and ours meet.
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        try:
            if scope["type"] == "websocket":
                endpoint = self.websockets.get(scope.get("path", ""))
                if endpoint is not None:
                    await endpoint(WebSocket(scope, receive, send))
                else:
                    await self.app(scope, receive, send)
            else:
                await self._http(scope, receive, send, request_id)
        finally:
            request_id_var.reset(token)

    async def _http(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        started = time.perf_counter()
        status = 500
        response_started = False
        path = scope.get("path", "")
        limit = next(
            (n for pattern, n in self.body_limits if pattern.match(path)), self.max_body_bytes
        )

        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._send_problem(send, BodyTooLarge(limit), request_id, scope)
            self._record(scope, 413, started)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = message.get("headers", [])
                if status in BODILESS_STATUSES:
                    headers = [(k, v) for k, v in headers if k.lower() not in _ENTITY_HEADERS]
                message["headers"] = [*headers, (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"path": scope.get("path")})
            if not response_started:
                problem = Problem(
                    500,
                    "Something went wrong on our side; it has been logged.",
                    kind="internal-error",
                )
                await self._send_problem(send, problem, request_id, scope)
            status = 500
        self._record(scope, status, started)

    def _record(self, scope: Scope, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        route = getattr(scope.get("route"), "path", "unmatched")
        method = scope.get("method", "")
        self.metrics.requests.labels(method, route, str(status)).inc()
        self.metrics.latency.labels(method, route).observe(elapsed)
        log.info(
            "%s %s %s",
            method,
            scope.get("path"),
            status,
            extra={"status": status, "duration_ms": round(elapsed * 1000, 2), "route": route},
        )

    @staticmethod
    async def _send_problem(send: Send, problem: Problem, request_id: str, scope: Scope) -> None:
        body = (
            ProblemDetail(
                type=problem.type,
                title=problem.title,
                status=problem.status,
                detail=problem.detail,
                instance=scope.get("path"),
                request_id=request_id,
            )
            .model_dump_json(exclude_none=True)
            .encode()
        )
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()),
        ]
        start: dict[str, Any] = {
            "type": "http.response.start",
            "status": problem.status,
            "headers": headers,
        }
        await send(start)
        await send({"type": "http.response.body", "body": body})
