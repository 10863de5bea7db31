"""WS /v1/ws limits: connections per user (the oldest gives way, 1008) and message size
(1009)."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI

from tests.auth.factories import new_account
from tests.conftest import AppFactory
from tests.realtime.client import Closed, WsClient


async def live_connection(app: FastAPI, token: str) -> WsClient:
    ws = await WsClient(app).__aenter__()
    await ws.auth(token)
    # The first ping comes once the connection is live (added to the hub).
    assert (await ws.receive(pings=True))["type"] == "ping"
    return ws


async def close_code(ws: WsClient) -> int:
    """Read (pings too) until the server closes; its close code."""
    for _ in range(100):
        try:
            await ws.receive(pings=True)
        except Closed as closed:
            return closed.code
    raise AssertionError("still open after 100 frames")


async def test_one_connection_too_many_closes_the_oldest(app_factory: AppFactory) -> None:
    async with app_factory(ws_connections_per_user=2, ws_ping_s=0.05) as (app, client):
        ann, bob = await new_account(client), await new_account(client)
        bobs = await live_connection(app, bob.access_token)
        oldest = await live_connection(app, ann.access_token)
        second = await live_connection(app, ann.access_token)
        newest = await live_connection(app, ann.access_token)
        assert await close_code(oldest) == 1008
        for ws in (second, newest, bobs):  # still open: they are pinged
            assert (await ws.receive(pings=True))["type"] == "ping"
        hub = app.state.hub
        assert len(hub.connections[str(ann.id)]) == 2
        assert len(hub.connections[str(bob.id)]) == 1
        for ws in (oldest, second, newest, bobs):
            await ws.__aexit__()


async def test_a_client_message_over_64_kib_closes_1009(app_factory: AppFactory) -> None:
    async with app_factory(ws_ping_s=0.05) as (app, client):
        ann = await new_account(client)
        ws = await live_connection(app, ann.access_token)
        fits = json.dumps({"type": "note", "pad": "x" * (60 * 1024)})
        await ws._to_app.put({"type": "websocket.receive", "text": fits})
        assert (await ws.receive(pings=True))["type"] == "ping"  # ignored, still open
        too_big = json.dumps({"type": "note", "pad": "x" * (65 * 1024)})
        await ws._to_app.put({"type": "websocket.receive", "text": too_big})
        assert await close_code(ws) == 1009
        await ws.__aexit__()
        # Also as the first message, before any auth.
        async with WsClient(app) as first:
            await first._to_app.put({"type": "websocket.receive", "bytes": b"x" * (65 * 1024)})
            with pytest.raises(Closed) as closed:
                await first.receive()
            assert closed.value.code == 1009


async def test_the_limit_holds_across_processes(
    app_factory: AppFactory, live_redis_url: str
) -> None:
    # Two API processes on one Redis: a user's connections count together, and the
    # oldest gives way wherever it is.
    shared = {"redis_url": live_redis_url, "ws_connections_per_user": 2, "ws_ping_s": 0.05}
    async with app_factory(**shared) as (one, client), app_factory(**shared) as (other, _):
        ann = await new_account(client)
        oldest = await live_connection(one, ann.access_token)
        elsewhere = await live_connection(other, ann.access_token)
        newest = await live_connection(one, ann.access_token)  # two here at most: fine
        assert await close_code(oldest) == 1008
        for ws in (elsewhere, newest):
            assert (await ws.receive(pings=True))["type"] == "ping"
        for ws in (oldest, elsewhere, newest):
            await ws.__aexit__()
