"""Failed sign-ins are limited per account and per client address; honest ones are not."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from tests import databases
from tests.auth.factories import new_account, sign_in
from tests.conftest import AppFactory

LIMITS = {"login_failures_per_account": 3, "login_failures_per_address": 5}


@pytest.fixture
async def live_redis_url() -> AsyncIterator[str]:
    redis = Redis.from_url(databases.REDIS_URL)
    try:
        await redis.ping()
    except (RedisError, OSError) as exc:
        await redis.aclose()
        databases.unavailable("Redis", f"{databases.REDIS_URL}: {exc}")
    await redis.flushdb()
    yield databases.REDIS_URL
    await redis.flushdb()
    await redis.aclose()


@pytest.fixture(params=["memory", "redis"])
def redis_url(request: pytest.FixtureRequest) -> str | None:
    """The limiter the app uses: in-process (embedded) or Redis (scaled)."""
    if request.param == "memory":
        return None
    url: str = request.getfixturevalue("live_redis_url")
    return url


async def test_account_lockout_and_retry_after(
    app_factory: AppFactory, redis_url: str | None
) -> None:
    async with app_factory(redis_url=redis_url, **LIMITS) as (_app, client):
        victim = await new_account(client)
        for _ in range(3):
            assert (await sign_in(client, victim.email, "wrong")).status_code == 400
        locked = await sign_in(client, victim.email)  # even the right password waits
        assert locked.status_code == 429
        assert locked.json()["error"] == "temporarily_unavailable"
        assert 1 <= int(locked.headers["retry-after"]) <= 900
        # Someone else signs in from the same address without trouble.
        other = await new_account(client)
        assert (await sign_in(client, other.email)).status_code == 200


async def test_address_limit_spans_accounts(app_factory: AppFactory, redis_url: str | None) -> None:
    async with app_factory(redis_url=redis_url, **LIMITS) as (_app, client):
        honest = await new_account(client)
        for i in range(5):  # spraying one guess over many accounts
            answer = await sign_in(client, f"target{i}@example.org", "guess")
            assert answer.status_code == 400
        assert (await sign_in(client, honest.email)).status_code == 429
        # A different client address is not affected.
        transport = httpx.ASGITransport(app=_app, client=("203.0.113.9", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as elsewhere:
            assert (await sign_in(elsewhere, honest.email)).status_code == 200


async def test_a_success_clears_an_honest_users_typos(
    app_factory: AppFactory, redis_url: str | None
) -> None:
    async with app_factory(redis_url=redis_url, **LIMITS) as (_app, client):
        user = await new_account(client)
        for _ in range(5):
            assert (await sign_in(client, user.email, "typo")).status_code == 400
            assert (await sign_in(client, user.email, "typo")).status_code == 400
            assert (await sign_in(client, user.email)).status_code == 200
            # Five rounds: ten failures on this account, never three in a row.
            await _clear_address(_app)


async def _clear_address(app: object) -> None:
    # The address counter is not cleared by a success (it protects every account);
    # reset it here so this test isolates the per-account rule.
    limiter: RateLimiter = app.state.auth.limiter  # type: ignore[attr-defined]
    await limiter.reset("login:address:127.0.0.1")


async def test_memory_limiter_windows_expire() -> None:
    limiter = MemoryRateLimiter()
    assert await limiter.hit("k", window_s=1) == 1
    assert await limiter.hit("k", window_s=1) == 2
    assert await limiter.retry_after("k", limit=2) == 1
    assert await limiter.retry_after("k", limit=3) == 0
    limiter._windows["k"] = (2, 0.0)  # the window has run out
    assert await limiter.retry_after("k", limit=2) == 0
    assert await limiter.hit("k", window_s=1) == 1


async def test_redis_limiter_counts_across_instances(live_redis_url: str) -> None:
    redis_url = live_redis_url
    key = f"test:{uuid.uuid4()}"
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        a, b = RedisRateLimiter(first), RedisRateLimiter(second)
        await a.hit(key, 60)
        await b.hit(key, 60)
        # Two API processes share one count.
        assert await a.retry_after(key, limit=2) > 0
        await b.reset(key)
        assert await a.retry_after(key, limit=2) == 0
    finally:
        await first.aclose()
        await second.aclose()
