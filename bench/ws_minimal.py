"""The baseline of bench/ws_fanout.py: a minimal broadcast server on the `websockets`
library. Every connection that says anything is registered; a POST-free trigger (a
connection that sends "broadcast") sends one event-sized frame to all of them.

    python -m bench.ws_minimal PORT
"""

from __future__ import annotations

import asyncio
import json
import sys

import websockets
from websockets.asyncio.server import ServerConnection, broadcast, serve

FRAME = json.dumps({"type": "broadcast", "data": {"title": "x" * 600, "body": "y" * 300}})
clients: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    async for message in ws:
        if message == "broadcast":
            broadcast(clients, FRAME)
        else:
            clients.add(ws)
    clients.discard(ws)


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, ping_interval=None, max_size=2**20):
        await asyncio.Event().wait()


if __name__ == "__main__":
    assert websockets
    asyncio.run(main(int(sys.argv[1])))
