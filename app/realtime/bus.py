"""The Bus port: "the event log has grown", from whoever wrote it to every API process.

It carries a hint, not the events: each API process reads the log itself, in seq order
(app/realtime/hub.py), so a lost or late hint only delays, and a Redis outage loses
nothing. In-process (embedded shape) the hint is a function call; across processes
(scaled shape, NW_REDIS_URL) it is a Redis pub/sub message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

log = logging.getLogger("app.realtime")

CHANNEL = "nw:event-log"
Listener = Callable[[], None]
_local: set[Listener] = set()  # every listener in this process


class Bus(Protocol):
    async def publish(self) -> None:
        """Tell every API process that the log has grown. Never raises."""

    async def listen(self, on_news: Listener) -> None:
        """Call `on_news` on every hint, and after (re)connecting, until cancelled."""

    async def close(self) -> None: ...


class LocalBus:
    async def publish(self) -> None:
        for listener in list(_local):
            listener()

    async def listen(self, on_news: Listener) -> None:
        _local.add(on_news)
        try:
            await asyncio.Event().wait()  # until cancelled
        finally:
            _local.discard(on_news)

    async def close(self) -> None:
        return None


class RedisBus:
    def __init__(self, url: str, *, max_backoff_s: float = 5.0) -> None:
        self.url = url
        self.max_backoff_s = max_backoff_s
        self._publisher = Redis.from_url(url)
        self.connected = False

    async def publish(self) -> None:
        # Also in this process at once: a hint need not go round Redis to reach it.
        await LocalBus().publish()
        try:
            await self._publisher.publish(CHANNEL, b"")
        except (RedisError, OSError) as exc:
            # The readers poll the log as well, and read it all again when they
            # reconnect: nothing is lost, it is only late.
            log.warning("could not publish to Redis", extra={"error": str(exc)})

    async def listen(self, on_news: Listener) -> None:
        backoff = 0.1
        while True:
            client = Redis.from_url(self.url)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                self.connected, backoff = True, 0.1
                on_news()  # whatever was logged while we were not listening
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
                    if message is not None:
                        on_news()
            except (RedisError, OSError) as exc:
                if self.connected:
                    log.warning("Redis bus lost; reconnecting", extra={"error": str(exc)})
                self.connected = False
                await asyncio.sleep(backoff)
                backoff = min(self.max_backoff_s, backoff * 2)
            finally:
                self.connected = False
                await close_quietly(client, pubsub)

    async def close(self) -> None:
        await self._publisher.aclose()


async def close_quietly(client: Redis, pubsub: PubSub) -> None:
    """Close a subscription whose connection may already be gone."""
    try:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()
    except (RedisError, OSError):
        pass


def bus_for(redis_url: str | None) -> Bus:
    return RedisBus(redis_url) if redis_url else LocalBus()
