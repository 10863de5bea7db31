"""Rate limits over moving windows, through the `limits` library: the one port the app
calls, in-process (embedded) or on Redis (scaled).

A moving window counts the events of the last `per_s` seconds, whatever the clock says:
there is no window edge at which a client gets twice its allowance. Redis keeps the
counts shared across every API process (limits' Lua scripts take an entry atomically,
so two processes cannot both take the last one); the in-process storage is only correct
for a single process, which is what the embedded shape is.

When Redis cannot be reached, each process counts on its own instead (logged): an outage
of the shared counter must neither stop alerts, reports and sign-ins nor lift the limits
on password guessing while it lasts.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.problems import too_many_requests

log = logging.getLogger(__name__)
# What an unreachable storage raises (limits' own StorageError only when it wraps them).
UNAVAILABLE = (RedisError, OSError, StorageError)

HOUR = 3600
DAY = 24 * HOUR


@dataclass(frozen=True)
class Rate:
    """At most `amount` events in any `per_s` seconds."""

    amount: int
    per_s: int

    @property
    def item(self) -> RateLimitItem:
        return RateLimitItemPerSecond(self.amount, self.per_s, namespace="nw")


class RateLimiter:
    def __init__(self, storage: Storage, shared: bool = False) -> None:
        self.storage = storage
        self._window = MovingWindowRateLimiter(storage)
        # A shared storage can be unreachable; this process's own counts stand in.
        self._local = MovingWindowRateLimiter(_SweepingMemoryStorage()) if shared else None

    def _fallback(self, exc: Exception) -> MovingWindowRateLimiter:
        if self._local is None:
            raise exc
        log.warning("shared rate limits unavailable; counted in-process", extra={"error": str(exc)})
        return self._local

    async def hit(self, rate: Rate, key: str, cost: int = 1) -> bool:
        """Count `cost` events under `key`; False (and nothing counted) when they do not
        fit in the window."""
        try:
            return await self._window.hit(rate.item, key, cost=cost)
        except UNAVAILABLE as exc:
            return await self._fallback(exc).hit(rate.item, key, cost=cost)

    async def retry_after(self, rate: Rate, key: str, cost: int = 1) -> int:
        """Seconds until `cost` more events fit under `key`; 0 when they fit now."""
        if cost > rate.amount:  # never, in this window: a whole window from now
            return rate.per_s
        try:
            stats = await self._window.get_window_stats(rate.item, key)
        except UNAVAILABLE as exc:
            stats = await self._fallback(exc).get_window_stats(rate.item, key)
        if stats.remaining >= cost:
            return 0
        # When the oldest event in the window leaves it (a hint: for cost > 1 it may
        # take longer).
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def take(self, rate: Rate, key: str, detail: str) -> None:
        """Count one event, or raise 429 (with Retry-After) when the window is full."""
        if not await self.hit(rate, key):
            raise too_many_requests(await self.retry_after(rate, key), detail)

    async def reset(self, rate: Rate, key: str) -> None:
        try:
            await self._window.clear(rate.item, key)
        except UNAVAILABLE as exc:
            await self._fallback(exc).clear(rate.item, key)


class _SweepingMemoryStorage(MemoryStorage):
    """limits' in-process storage, sweeping expired entries every `SWEEP_S` instead of
    after every hit: it started a sweep whenever the last had finished, one thread hop per
    key, which cost about 200 µs of CPU per hit (a report takes two). Expired entries are
    never counted either way; the sweep only frees their memory."""

    SWEEP_S = 30.0

    async def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 (limits' private hook)
        now = time.monotonic()
        if now - getattr(self, "_swept_at", -self.SWEEP_S) >= self.SWEEP_S:
            self._swept_at = now
            await super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]


def memory_limiter() -> RateLimiter:
    return RateLimiter(_SweepingMemoryStorage())


def redis_limiter(redis: Redis, url: str) -> RateLimiter:
    """On the app's own Redis client (its connection pool), with redis-py as limits'
    client implementation (its default is coredis)."""
    storage = RedisStorage(
        "async+" + url,
        implementation="redispy",
        key_prefix="nw:rl",
        connection_pool=redis.connection_pool,  # type: ignore[arg-type]
    )
    return RateLimiter(storage, shared=True)
