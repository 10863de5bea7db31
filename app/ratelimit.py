"""Fixed-window counters for rate limits: in-process (embedded) or Redis (scaled).

Redis keeps the counts shared across every API process; the in-process adapter is only
correct for a single process, which is what the embedded shape is.
"""

from __future__ import annotations

import math
import time
from typing import Protocol

from redis.asyncio import Redis


class RateLimiter(Protocol):
    async def hit(self, key: str, window_s: int) -> int:
        """Count one event under `key`; return the count in the current window."""

    async def retry_after(self, key: str, limit: int) -> int:
        """Seconds until `key` is under `limit` again; 0 when it already is."""

    async def reset(self, key: str) -> None: ...


class MemoryRateLimiter:
    _PRUNE_EVERY = 1024

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, float]] = {}
        self._hits = 0

    def _live(self, key: str) -> tuple[int, float] | None:
        entry = self._windows.get(key)
        if entry is not None and entry[1] <= time.monotonic():
            del self._windows[key]
            return None
        return entry

    async def hit(self, key: str, window_s: int) -> int:
        self._hits += 1
        if self._hits % self._PRUNE_EVERY == 0:
            now = time.monotonic()
            self._windows = {k: v for k, v in self._windows.items() if v[1] > now}
        entry = self._live(key)
        count, expires = entry if entry else (0, time.monotonic() + window_s)
        self._windows[key] = (count + 1, expires)
        return count + 1

    async def retry_after(self, key: str, limit: int) -> int:
        entry = self._live(key)
        if entry is None or entry[0] < limit:
            return 0
        return max(1, math.ceil(entry[1] - time.monotonic()))

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)


class RedisRateLimiter:
    def __init__(self, redis: Redis, prefix: str = "nw:rl:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def hit(self, key: str, window_s: int) -> int:
        name = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            # NX: the window starts at the first hit and is not extended by later ones.
            pipe.expire(name, window_s, nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def retry_after(self, key: str, limit: int) -> int:
        name = self._prefix + key
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(name)
            pipe.ttl(name)
            raw, ttl = await pipe.execute()
        if raw is None or int(raw) < limit:
            return 0
        return max(1, int(ttl))

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)
