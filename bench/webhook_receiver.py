"""A webhook receiver for the benchmarks, in a process of its own: verifies every
delivery's signature with the Standard Webhooks library, counts, and tells when.

    python -m bench.webhook_receiver          prints its base URL, then serves

POST /_secrets {path: secret, ...}  the secret each path's deliveries are signed with
POST /_reset                        forget the counts
GET  /_stats                        {verified, refused, distinct_ids, first_at, last_at}
POST /anything-else                 a delivery: 204 when its signature verifies, else 400
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError


class State:
    def __init__(self) -> None:
        self.verifiers: dict[str, Webhook] = {}
        self.reset()

    def reset(self) -> None:
        self.verified = 0
        self.refused = 0
        self.ids: set[str] = set()
        self.first_at: float | None = None
        self.last_at: float | None = None


def make_app(state: State) -> web.Application:
    async def secrets(request: web.Request) -> web.Response:
        given: dict[str, str] = await request.json()
        state.verifiers.update({path: Webhook(secret) for path, secret in given.items()})
        return web.json_response({"known": len(state.verifiers)})

    async def reset(_request: web.Request) -> web.Response:
        state.reset()
        return web.Response(status=204)

    async def stats(_request: web.Request) -> web.Response:
        body: dict[str, Any] = {
            "verified": state.verified,
            "refused": state.refused,
            "distinct_ids": len(state.ids),
            "first_at": state.first_at,
            "last_at": state.last_at,
        }
        return web.json_response(body)

    async def deliver(request: web.Request) -> web.Response:
        body = await request.read()
        verifier = state.verifiers.get(request.path)
        try:
            if verifier is None:
                raise WebhookVerificationError("no secret for this path")
            verifier.verify(body, dict(request.headers), json_parse=False)
        except WebhookVerificationError:
            state.refused += 1
            return web.Response(status=400)
        now = time.time()
        state.verified += 1
        state.ids.add(request.headers["webhook-id"])
        state.first_at = state.first_at or now
        state.last_at = now
        return web.Response(status=204)

    app = web.Application()
    app.add_routes(
        [
            web.post("/_secrets", secrets),
            web.post("/_reset", reset),
            web.get("/_stats", stats),
            web.post("/{tail:.*}", deliver),
        ]
    )
    return app


async def serve() -> None:
    runner = web.AppRunner(make_app(State()), access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock, backlog=1024)
    await site.start()
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    try:
        import uvloop

        uvloop.run(serve())
    except ImportError:
        asyncio.run(serve())


if __name__ == "__main__":
    main()
