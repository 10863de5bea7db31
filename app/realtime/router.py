"""`WS /v1/ws`: live events for the signed-in user (API.md "Realtime")."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from sqlalchemy import select
from sqlmodel import col

from app.auth.models import User
from app.auth.service import AuthContext
from app.auth.tokens import AccessClaims, InvalidToken
from app.db import reading
from app.realtime.hub import PING, Connection, Hub

UNAUTHENTICATED, NO_AUTH_IN_TIME, TOO_SLOW = 4401, 4408, 1013
# RFC 6455 §7.4.1: policy violation (one connection too many), message too big.
REPLACED, TOO_BIG = 1008, 1009
REASONS = {
    UNAUTHENTICATED: "unauthenticated",
    TOO_SLOW: "too slow; resume later",
    REPLACED: "too many connections for this user: the oldest is closed",
    TOO_BIG: "message too big",
}


class MessageTooBig(Exception):
    pass


LIVE_EVENTS_PATH = "/v1/ws"


async def live_events(ws: WebSocket) -> None:
    """WS /v1/ws, served by app.middleware ahead of the framework's routing."""
    # The token is read from the first message only: URLs end up in logs.
    settings = ws.app.state.settings
    hub: Hub = ws.app.state.hub
    await ws.accept()
    try:
        first = await asyncio.wait_for(_receive(ws), settings.ws_auth_timeout_s)
    except TimeoutError:
        await ws.close(NO_AUTH_IN_TIME, "send {type: auth, token} first")
        return
    except WebSocketDisconnect:
        return
    except MessageTooBig:
        await ws.close(TOO_BIG, REASONS[TOO_BIG])
        return
    claims = await _authenticate(ws, first)
    if claims is None:
        await ws.close(UNAUTHENTICATED, "unauthenticated")
        return
    connection = Connection(claims.user_id, settings.ws_queue_size, claims.expires_at)
    pump = asyncio.create_task(_pump(ws, connection, hub, settings.ws_ping_s))
    connection.on_stop = pump.cancel  # it may be stuck sending to this very client
    hub.add(connection)  # live events are held back until any resume is done
    converse = asyncio.create_task(_converse(ws, connection, hub, settings.ws_resume_window_s))
    tasks = (pump, converse)
    try:
        await hub.seats.take(connection.user_id, connection.uid)
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.remove(connection)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await hub.seats.give_back(connection.user_id, connection.uid)
    codes = [t.result() for t in done if not t.cancelled() and t.exception() is None]
    code = next((c for c in codes if c), None)
    if connection.revoked.is_set():
        code = UNAUTHENTICATED
    elif connection.too_slow.is_set():
        code = TOO_SLOW
    elif connection.replaced.is_set():
        code = REPLACED
    if code is not None:
        if code == TOO_SLOW:
            hub.metrics.ws_slow_closes.inc()
        # A client too slow to read may not take the close frame either: do not wait long.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(code, REASONS[code]), 5)


async def _receive(ws: WebSocket) -> Any:
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    # uvicorn refuses a bigger message as it arrives (app.cli); other servers hand it
    # over whole, so it is refused here too.
    size = len(message.get("bytes") or b"") + len((message.get("text") or "").encode())
    if size > ws.app.state.settings.ws_max_message_bytes:
        raise MessageTooBig()
    try:
        return json.loads(message.get("text") or "")
    except ValueError:
        return None  # not JSON (or a binary frame): not a message of ours


async def _authenticate(ws: WebSocket, message: Any) -> AccessClaims | None:
    if not (isinstance(message, dict) and message.get("type") == "auth"):
        return None
    token = message.get("token")
    if not isinstance(token, str):
        return None
    ctx: AuthContext = ws.app.state.auth
    try:
        claims = ctx.tokens.verify_access(token)
    except InvalidToken:
        return None
    hub: Hub = ws.app.state.hub
    # A deleted account is refused. Few lookups at once: when thousands of phones
    # reconnect together, each waiting session would hold memory the process keeps.
    async with hub.lookups, reading(ws.app.state.sessionmaker) as session:
        if await session.scalar(select(col(User.id)).where(col(User.id) == claims.user_id)) is None:
            return None
    return claims


async def _converse(
    ws: WebSocket, connection: Connection, hub: Hub, resume_window_s: float
) -> int | None:
    """The client's side: an optional resume first, then fresh tokens as they expire."""
    try:
        try:
            message = await asyncio.wait_for(_receive(ws), resume_window_s)
        except TimeoutError:
            message = None
        if isinstance(message, dict) and message.get("type") == "resume":
            since = message.get("since")
            valid = isinstance(since, int) and not isinstance(since, bool) and since >= 0
            await hub.resume(connection, since if valid else -1)
            message = None
        else:
            connection.go_live()
        while True:
            if message is not None and isinstance(message, dict) and message.get("type") == "auth":
                claims = await _authenticate(ws, message)
                if claims is None or claims.user_id != connection.user_id:
                    return UNAUTHENTICATED
                connection.expires_at = claims.expires_at
            message = await _receive(ws)
    except WebSocketDisconnect:
        return None
    except MessageTooBig:
        return TOO_BIG


async def _pump(ws: WebSocket, connection: Connection, hub: Hub, ping_every_s: float) -> int | None:
    """Sends what is queued, pings on time, and ends the connection when its token ran
    out (unless a fresh one came): one task for the three keeps a connection small."""
    next_ping = time.monotonic() + ping_every_s
    while True:
        left = connection.expires_at - time.time()
        if left <= 0:
            return UNAUTHENTICATED
        try:
            async with asyncio.timeout(min(left, next_ping - time.monotonic())):
                text = await connection.queue.get()
        except TimeoutError:
            if time.monotonic() < next_ping:
                continue  # the token's time: checked at the top
            text = PING
        if text == PING:
            next_ping = time.monotonic() + ping_every_s
        try:
            await ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return None
        if text.startswith('{"seq"'):
            hub.metrics.ws_events.inc()
