"""Two `nwatch serve` processes and a `nwatch worker` on PostgreSQL, Redis between them:
an alert POSTed to one reaches a WebSocket on the other, and a Redis restart loses
nothing."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI

from tests.alerts.factories import LONDON, alert_body, new_agency, watch
from tests.auth.factories import new_account
from tests.databases import unavailable

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, patience_s: float = 30) -> None:
    give_up = time.monotonic() + patience_s
    while time.monotonic() < give_up:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listening on {port}")


class PrivateRedis:
    """A redis-server of this test's own, so that it can be restarted."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("Redis", "redis-server is not installed")
            return
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    nwatch = Path(sys.executable).with_name("nwatch")
    return subprocess.Popen([str(nwatch), *args], env={**os.environ, **env})


async def next_event(ws: Any, patience_s: float) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), patience_s))
        if frame.get("type") != "ping":
            return frame


async def test_an_alert_posted_to_one_process_reaches_a_socket_on_another(
    app: FastAPI,
    client: httpx.AsyncClient,
    database_url: str,
    redis_server: PrivateRedis,
    tmp_path: Path,
) -> None:
    officer = await new_agency(app, client)
    resident = await new_account(client)
    await watch(client, resident, LONDON)
    env = {
        "NW_DATABASE_URL": database_url,
        "NW_REDIS_URL": redis_server.url,
        "NW_JWT_SECRET": app.state.settings.jwt_secret.get_secret_value(),
        "NW_LOG_LEVEL": "WARNING",
        "NW_VAR_DIR": str(tmp_path / "var"),
    }
    port_a, port_b = free_port(), free_port()
    processes = [
        start(["serve", "--port", str(port_a)], env),
        start(["serve", "--port", str(port_b)], env),
        start(["worker"], env),
    ]
    try:
        wait_for_port(port_a)
        wait_for_port(port_b)
        token = resident.headers["Authorization"].removeprefix("Bearer ")
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_a}") as process_a,
            websockets.connect(f"ws://127.0.0.1:{port_b}/v1/ws") as ws,
        ):
            # The client offered permessage-deflate (its default); `nwatch serve` declines.
            assert ws.response is not None
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            await ws.send(json.dumps({"type": "auth", "token": token}))
            await asyncio.sleep(1.2)  # past the resume window: live

            async def post(title: str) -> str:
                answer = await process_a.post(
                    "/v1/alerts", headers=officer.headers, json=alert_body(title=title)
                )
                assert answer.status_code == 201, answer.text
                return str(answer.json()["id"])

            first = await post("Across processes")
            arrived = await next_event(ws, patience_s=2.0)  # the requirement: within 2 s
            assert arrived["data"]["id"] == first

            redis_server.stop()
            while_down = await post("While Redis is down")
            redis_server.start()  # same port: the processes reconnect
            after = await post("After Redis came back")
            got = [await next_event(ws, patience_s=15.0) for _ in range(2)]
            assert [e["data"]["id"] for e in got] == [while_down, after]
            assert got[0]["seq"] > arrived["seq"]
            assert got[1]["seq"] > got[0]["seq"]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
