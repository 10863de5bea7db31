"""How many WebSocket connections one user holds across every API process.

Each process's hub keeps a user to `per_user` connections of its own; in the scaled
shape a user could still open that many in each process. Redis keeps one sorted set per
user of their connections (scored by when they opened), and a connection beyond the
limit, wherever it is, is told to close through a pub/sub message to every process. The
same channel tells every process to close all of an erased account's connections.

The newest connection always stays: a seat left behind by a process that died is simply
the oldest, and is evicted (to nobody) the next time its user connects. When Redis is
away, each process's own limit still holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.realtime.bus import close_quietly

log = logging.getLogger("app.realtime")

CHANNEL = "nw:ws-evict"
_KEY = "nw:ws:{}"
_KEEP_S = 86_400  # a user's set outlives their longest connection; refreshed on connect
Evict = Callable[[str], None]  # a connection id
Revoke = Callable[[str], None]  # a user id


class Seats(Protocol):
    async def take(self, user_id: uuid.UUID, connection_id: str) -> None:
        """Hold a seat for this connection; evict the user's oldest beyond the limit."""

    async def give_back(self, user_id: uuid.UUID, connection_id: str) -> None: ...

    async def revoke(self, user_id: uuid.UUID) -> None:
        """Tell every other process to close all of this user's connections."""

    async def listen(self, evict: Evict, revoke: Revoke) -> None:
        """Call `evict(connection_id)` for every eviction and `revoke(user_id)` for every
        revocation, until cancelled."""

    async def close(self) -> None: ...


class LocalSeats:
    """One process: its hub's own limit is the whole limit."""

    async def take(self, user_id: uuid.UUID, connection_id: str) -> None:
        return None

    async def give_back(self, user_id: uuid.UUID, connection_id: str) -> None:
        return None

    async def revoke(self, user_id: uuid.UUID) -> None:
        return None

    async def listen(self, evict: Evict, revoke: Revoke) -> None:
        await asyncio.Event().wait()  # until cancelled

    async def close(self) -> None:
        return None


class RedisSeats:
    def __init__(self, url: str, per_user: int) -> None:
        self.url = url
        self.per_user = per_user
        self._redis = Redis.from_url(url)

    async def take(self, user_id: uuid.UUID, connection_id: str) -> None:
        key = _KEY.format(user_id)
        beyond = -(self.per_user + 1)  # ranks 0..beyond: all but the newest per_user
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zadd(key, {connection_id: time.time()})
                pipe.zrange(key, 0, beyond)
                pipe.zremrangebyrank(key, 0, beyond)
                pipe.expire(key, _KEEP_S)
                _, evicted, _, _ = await pipe.execute()
            if evicted:
                ids = [e.decode() if isinstance(e, bytes) else str(e) for e in evicted]
                await self._redis.publish(CHANNEL, json.dumps(ids))
        except (RedisError, OSError) as exc:
            log.warning("connection seats unavailable", extra={"error": str(exc)})

    async def give_back(self, user_id: uuid.UUID, connection_id: str) -> None:
        try:
            await self._redis.zrem(_KEY.format(user_id), connection_id)
        except (RedisError, OSError) as exc:
            log.warning("connection seats unavailable", extra={"error": str(exc)})

    async def revoke(self, user_id: uuid.UUID) -> None:
        try:
            await self._redis.publish(CHANNEL, json.dumps({"revoke": str(user_id)}))
            await self._redis.delete(_KEY.format(user_id))
        except (RedisError, OSError) as exc:
            # The connections then end when their access tokens expire (minutes), and
            # receive nothing meanwhile: the account and its events are gone.
            log.warning("could not revoke connections", extra={"error": str(exc)})

    async def listen(self, evict: Evict, revoke: Revoke) -> None:
        while True:
            client = Redis.from_url(self.url)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
                    if message is None:
                        continue
                    body = json.loads(message["data"])
                    if isinstance(body, dict):
                        revoke(str(body.get("revoke")))
                    else:
                        for connection_id in body:
                            evict(str(connection_id))
            except (RedisError, OSError, ValueError) as exc:
                log.warning("eviction channel lost; reconnecting", extra={"error": str(exc)})
                await asyncio.sleep(1.0)
            finally:
                await close_quietly(client, pubsub)

    async def close(self) -> None:
        await self._redis.aclose()


def seats_for(redis_url: str | None, per_user: int) -> Seats:
    return RedisSeats(redis_url, per_user) if redis_url else LocalSeats()
