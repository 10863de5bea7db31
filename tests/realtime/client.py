"""A WebSocket client that drives the app in-process over ASGI, as a socket client would.

It can stop reading (`pause()`): the server's sends then wait, as they do when a slow
phone's TCP window is full.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI


class Closed(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"closed with {code}")
        self.code = code


class WsClient:
    def __init__(self, app: FastAPI, path: str = "/v1/ws", query: str = "") -> None:
        self.app = app
        self.path = path
        self.query = query
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reading = asyncio.Event()
        self._reading.set()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> WsClient:
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "path": self.path,
            "raw_path": self.path.encode(),
            "root_path": "",
            "query_string": self.query.encode(),
            "headers": [(b"host", b"test")],
            "client": ("127.0.0.1", 50000),
            "server": ("test", 80),
            "subprotocols": [],
        }
        self._task = asyncio.create_task(self.app(scope, self._receive, self._send))
        await self._to_app.put({"type": "websocket.connect"})
        accepted = await asyncio.wait_for(self._from_app.get(), 5)
        assert accepted["type"] == "websocket.accept", accepted
        return self

    async def __aexit__(self, *_: object) -> None:
        self._reading.set()
        await self._to_app.put({"type": "websocket.disconnect", "code": 1000})
        if self._task is not None:
            await asyncio.wait_for(self._task, 10)

    async def _receive(self) -> dict[str, Any]:
        return await self._to_app.get()

    async def _send(self, message: MutableMapping[str, Any]) -> None:
        await self._reading.wait()
        await self._from_app.put(dict(message))

    def pause(self) -> None:
        self._reading.clear()

    def read_again(self) -> None:
        self._reading.set()

    async def send(self, message: dict[str, Any]) -> None:
        await self._to_app.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def auth(self, token: str, since: int | None = None) -> None:
        await self.send({"type": "auth", "token": token})
        if since is not None:
            await self.send({"type": "resume", "since": since})

    async def receive(self, patience_s: float = 10.0, pings: bool = False) -> dict[str, Any]:
        """The next frame (pings skipped unless asked for); raises Closed on a close."""
        while True:
            message = await asyncio.wait_for(self._from_app.get(), patience_s)
            if message["type"] == "websocket.close":
                raise Closed(message.get("code", 1000))
            frame: dict[str, Any] = json.loads(message["text"])
            if pings or frame.get("type") != "ping":
                return frame

    async def events(self, count: int, patience_s: float = 10.0) -> list[dict[str, Any]]:
        return [await self.receive(patience_s) for _ in range(count)]

    async def nothing_more(self, wait_s: float = 0.5) -> bool:
        """True if no event frame arrives within `wait_s` (a negative check)."""
        try:
            frame = await self.receive(wait_s)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected frame: {frame}")
