"""The client side of bench/ws_fanout.py, run as its own process.

Opens one WebSocket per token in the tokens file, authenticates each, prints `ready`,
then waits for a line on stdin carrying the time (time.time()) the alert was sent,
and prints, as JSON, each client's delay until its first event frame.

    python -m bench.ws_clients URL TOKENS_FILE
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import websockets


async def client(url: str, token: str, got: list[float]) -> Any:
    ws = await websockets.connect(url, max_size=2**20, ping_interval=None, open_timeout=60)
    await ws.send(json.dumps({"type": "auth", "token": token}))

    async def wait_for_event() -> None:
        while True:
            frame = json.loads(await ws.recv())
            if "seq" in frame or frame.get("type") == "broadcast":
                got.append(time.time())
                return

    return ws, asyncio.create_task(wait_for_event())


async def main(url: str, tokens_file: str) -> None:
    tokens = [line.strip() for line in open(tokens_file) if line.strip()]  # noqa: ASYNC230, SIM115
    got: list[float] = []
    gate = asyncio.Semaphore(100)  # handshakes at once

    async def opened(token: str) -> Any:
        async with gate:
            return await client(url, token, got)

    connections = await asyncio.gather(*(opened(t) for t in tokens))
    print("ready", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    sent_at = float(line)
    waiting = [task for _, task in connections]
    await asyncio.wait(waiting, timeout=60)
    delays = sorted(t - sent_at for t in got)
    print(json.dumps({"delays": delays, "clients": len(tokens)}), flush=True)
    for ws, task in connections:
        task.cancel()
        await ws.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
