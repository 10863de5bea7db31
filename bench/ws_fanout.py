"""One alert to 5,000 WebSocket clients on one API process, beside a minimal server.

The API (`nwatch serve`, embedded shape, dispatcher in-process) holds 5,000
authenticated connections opened by a separate client process (bench/ws_clients.py);
one alert whose area holds all 5,000 residents is POSTed, and each client notes when
the event reached it. Printed: p50/p99 of those delays, connections held, and the
server's memory per connection: its RSS with the connections open (before or after the
event, whichever is more) less its RSS before they opened, over their number. The same
for a minimal broadcast server on the `websockets` library (bench/ws_minimal.py),
measured in the same run.

    .venv/bin/python -m bench.ws_fanout [--clients N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import websockets
from pydantic import SecretStr

from app.auth.tokens import TokenService
from app.settings import Settings
from bench.common import percentile, scratch_database
from bench.incidents import free_port
from bench.push_fanout import LONDON, alert_poster, seed

SECRET = "bench-" + "s" * 40


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@contextlib.asynccontextmanager
async def process(args: list[str], env: dict[str, str], port: int) -> AsyncIterator[int]:
    proc = await asyncio.create_subprocess_exec(
        *args, env={**os.environ, **env}, stdout=asyncio.subprocess.DEVNULL
    )
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.1)
        yield proc.pid
    finally:
        proc.terminate()
        await proc.wait()


async def drive(
    url: str, tokens: list[str], server_pid: int, fire: Any, settled: Any
) -> tuple[list[float], int, float]:
    """Open the clients, fire, and return (delays, clients that got it, KiB/connection)."""
    with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as f:
        f.write("\n".join(tokens))
    before = rss_kib(server_pid)
    clients = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.ws_clients",
        url,
        f.name,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=2**24,  # the delays come back as one JSON line
    )
    assert clients.stdout is not None
    assert clients.stdin is not None
    assert (await clients.stdout.readline()).strip() == b"ready"
    await settled()
    held = rss_kib(server_pid)
    sent_at = time.time()
    await fire()
    clients.stdin.write(f"{sent_at}\n".encode())
    await clients.stdin.drain()
    result = json.loads(await clients.stdout.readline())
    # Still held, after the event: what sending kept per connection counts too.
    after = rss_kib(server_pid)
    await clients.wait()
    os.unlink(f.name)
    return result["delays"], len(result["delays"]), (max(held, after) - before) / len(tokens)


async def api_run(count: int) -> tuple[list[float], int, float]:
    async with scratch_database("sqlite") as url:
        officer, residents = await seed(url, count, 0)
        settings = Settings(database_url=url, jwt_secret=SecretStr(SECRET))
        tokens = [TokenService(settings).issue_access(r, "resident")[0] for r in residents]
        port = free_port()
        env = {
            "NW_DATABASE_URL": url,
            "NW_JWT_SECRET": SECRET,
            "NW_LOG_LEVEL": "WARNING",
            "NW_VAR_DIR": tempfile.mkdtemp(prefix="nw-bench-"),
        }
        serve = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
        async with (
            process(serve, env, port) as pid,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as api,
        ):
            fire = await alert_poster(api, officer)
            # A warm server, as in service: one alert over an empty field first.
            await (await alert_poster(api, officer, where=(LONDON[0] + 0.14, LONDON[1])))()

            async def settled() -> None:
                """Every client signed in (the server's gauge says so) and live."""
                wanted = f"nw_ws_connections {float(len(tokens))}"
                while wanted not in (await api.get("/metrics")).text:  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
                # Past the resume window after the last sign-in, and a second of quiet in
                # which the server collects garbage and freezes the connections.
                await asyncio.sleep(3.0)

            return await drive(f"ws://127.0.0.1:{port}/v1/ws", tokens, pid, fire, settled)


async def minimal_run(count: int) -> tuple[list[float], int, float]:
    port = free_port()
    args = [sys.executable, "-m", "bench.ws_minimal", str(port)]
    async with process(args, {}, port) as pid:
        control = await websockets.connect(f"ws://127.0.0.1:{port}")

        async def fire() -> None:
            await control.send("broadcast")

        try:

            async def settled() -> None:
                await asyncio.sleep(2.0)

            return await drive(f"ws://127.0.0.1:{port}", ["x"] * count, pid, fire, settled)
        finally:
            await control.close()


def report(name: str, delays: list[float], got: int, count: int, kib: float) -> float:
    p50, p99 = percentile(delays, 50), percentile(delays, 99)
    print(
        f"{name}: {got:,}/{count:,} clients got it; p50 {p50 * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms; {kib:.1f} KiB per connection",
        flush=True,
    )
    return p99


async def run(count: int) -> None:
    api_p99 = report("API (nwatch serve)", *(r := await api_run(count))[:2], count, r[2])
    minimal_p99 = report(
        "minimal websockets server", *(m := await minimal_run(count))[:2], count, m[2]
    )
    print(
        f"API p99 is {api_p99 / minimal_p99:.1f}x the minimal server's "
        f"(goals: p99 < 1 s, < 60 KiB per connection, within 3x)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=5_000)
    args = parser.parse_args()
    asyncio.run(run(args.clients))


if __name__ == "__main__":
    main()
