"""Webhook tests' parts: a real HTTP receiver on loopback, a clock the test moves, API
clients with the `webhooks` scope, and drives of the dispatcher and the webhook channel."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from aiohttp import web
from fastapi import FastAPI
from standardwebhooks import Webhook

from app.db import utcnow
from app.outbound.guard import Policy
from app.push.dispatcher import Dispatcher
from app.webhooks.channel import WebhookChannel
from tests.auth.factories import ApiClientCredentials, client_headers, new_admin, new_api_client
from tests.push.factories import RecordingSender, drain


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def verified(self, secret: str) -> dict[str, Any]:
        """The payload, once Standard Webhooks' own library has checked its signature."""
        payload: dict[str, Any] = Webhook(secret).verify(self.body, self.headers)
        return payload

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # never answer (until the receiver closes)


@dataclass
class Receiver:
    """Answers each POST with the next planned `Answer` (then 200s) and records it."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    plan: list[Answer] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def allowed(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Received(request.path, dict(request.headers), body))
        answer = self.plan.pop(0) if self.plan else Answer()
        if answer.hang:
            await self.released.wait()
        return web.Response(status=answer.status, headers=answer.headers, text="ok")


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    box = Receiver()
    app = web.Application()
    app.add_routes([web.post("/{tail:.*}", box.handle)])
    runner = web.AppRunner(app, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    box.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield box
    finally:
        box.released.set()
        await runner.cleanup()


class Clock:
    """Now, moved forward by the test: retries come due without anyone sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)

    def until(self, when: datetime) -> None:
        """Forward to just past `when`."""
        self.offset = max(self.offset, when - utcnow() + timedelta(seconds=1))


@dataclass
class Subscriber:
    credentials: ApiClientCredentials
    headers: dict[str, str]


async def webhook_client(
    app: FastAPI,
    client: httpx.AsyncClient,
    scopes: tuple[str, ...] = ("webhooks",),
    **fields: Any,
) -> Subscriber:
    """An API client made by an admin, with `webhooks`, and a token for it."""
    admin = await new_admin(app, client)
    credentials = await new_api_client(client, admin, scopes=scopes, **fields)
    return Subscriber(credentials, await client_headers(client, credentials))


async def subscribe(
    client: httpx.AsyncClient,
    subscriber: Subscriber,
    url: str,
    events: list[str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    answer = await client.post(
        "/v1/webhooks",
        headers=subscriber.headers,
        json={"url": url, "events": events or ["alert.issued"], **fields},
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def channel_for(app: FastAPI, clock: Clock, allowed: str = "", **kwargs: Any) -> WebhookChannel:
    return WebhookChannel(app.state.sessionmaker, Policy.parse(allowed), clock=clock, **kwargs)


@dataclass
class Channels:
    """The push dispatcher (with a recording sender) and the webhook channel it feeds."""

    dispatcher: Dispatcher
    webhooks: WebhookChannel
    sender: RecordingSender

    async def expand(self) -> None:
        await drain(self.dispatcher)

    async def send(self) -> int:
        """Passes of the webhook channel until one finds nothing due; how many were sent."""
        total = 0
        while handled := await self.webhooks.run_once():
            total += handled
        return total

    async def deliver(self) -> int:
        await self.expand()
        return await self.send()


@asynccontextmanager
async def channels(
    app: FastAPI, clock: Clock, allowed: str, **kwargs: Any
) -> AsyncIterator[Channels]:
    webhooks = channel_for(app, clock, allowed, **kwargs)
    sender = RecordingSender()
    try:
        yield Channels(
            Dispatcher(app.state.sessionmaker, sender, fanouts=[webhooks.fanout]), webhooks, sender
        )
    finally:
        await webhooks.close()


async def deliveries(
    client: httpx.AsyncClient, subscriber: Subscriber, subscription_id: str
) -> list[dict[str, Any]]:
    answer = await client.get(
        f"/v1/webhooks/{subscription_id}/deliveries", headers=subscriber.headers
    )
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def subscription(
    client: httpx.AsyncClient, subscriber: Subscriber, subscription_id: str
) -> dict[str, Any]:
    answer = await client.get(f"/v1/webhooks/{subscription_id}", headers=subscriber.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body
