"""Failed sign-ins are limited per (account, address) pair and per address, and an account
is locked from everywhere only at a much higher count: a stranger's guesses cannot lock
its owner out."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from app.ratelimit import Rate, memory_limiter, redis_limiter
from tests.auth.factories import PASSWORD, new_account, sign_in
from tests.conftest import AppFactory

LIMITS = {
    "login_failures_per_pair": 3,
    "login_failures_per_address": 5,
    "login_failures_per_account": 8,
}


def elsewhere(app: FastAPI, address: str = "203.0.113.9") -> httpx.AsyncClient:
    """A client at another address than the default client's 127.0.0.1."""
    transport = httpx.ASGITransport(app=app, client=(address, 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def spray(
    client: httpx.AsyncClient, count: int, headers: dict[str, str] | None = None
) -> httpx.Response:
    """One guess at each of `count` unknown accounts, as a sprayer does; the last answer."""
    for i in range(count):
        answer = await sign_in(client, f"target{i}@example.org", "guess", headers=headers)
        assert answer.status_code in (400, 429)
    return answer


@pytest.fixture(params=["memory", "redis"])
def redis_url(request: pytest.FixtureRequest) -> str | None:
    """The limiter the app uses: in-process (embedded) or Redis (scaled)."""
    if request.param == "memory":
        return None
    url: str = request.getfixturevalue("live_redis_url")
    return url


async def test_pair_limit_and_retry_after(app_factory: AppFactory, redis_url: str | None) -> None:
    async with app_factory(redis_url=redis_url, **LIMITS) as (_app, client):
        victim = await new_account(client)
        for _ in range(3):
            assert (await sign_in(client, victim.email, "wrong")).status_code == 400
        locked = await sign_in(client, victim.email)  # from here, even the right password waits
        assert locked.status_code == 429
        assert locked.json()["error"] == "temporarily_unavailable"
        assert 1 <= int(locked.headers["retry-after"]) <= 900
        # Someone else signs in from the same address without trouble.
        other = await new_account(client)
        assert (await sign_in(client, other.email)).status_code == 200


async def test_wrong_passwords_from_one_address_do_not_lock_the_owner_out_elsewhere(
    app_factory: AppFactory, redis_url: str | None
) -> None:
    # Ten wrong passwords used to lock the account from everywhere for 15 minutes.
    async with app_factory(redis_url=redis_url, login_failures_per_pair=3) as (app, client):
        victim = await new_account(client)
        for _ in range(12):
            assert (await sign_in(client, victim.email, "wrong")).status_code in (400, 429)
        assert (await sign_in(client, victim.email)).status_code == 429  # here, it waits
        async with elsewhere(app) as owner:
            assert (await sign_in(owner, victim.email)).status_code == 200


async def test_spraying_unknown_emails_does_not_lock_anyone_out_elsewhere(
    app_factory: AppFactory, redis_url: str | None
) -> None:
    # Behind a reverse proxy (the test client's 127.0.0.1), two clients are two addresses
    # only if the proxy's X-Forwarded-For is believed; else everyone shares its address.
    async with app_factory(redis_url=redis_url, trusted_proxies=["127.0.0.1"]) as (_, client):
        honest = await new_account(client)
        # Above the default 50 failures per address.
        last = await spray(client, 60, {"X-Forwarded-For": "198.51.100.66"})
        assert last.status_code == 429
        home = {"X-Forwarded-For": "203.0.113.5"}
        assert (await sign_in(client, honest.email, headers=home)).status_code == 200


async def test_address_limit_spans_accounts(app_factory: AppFactory, redis_url: str | None) -> None:
    async with app_factory(redis_url=redis_url, **LIMITS) as (app, client):
        honest = await new_account(client)
        assert (await spray(client, 5)).status_code == 400
        refused = await sign_in(client, honest.email)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 900
        # A different client address is not affected.
        async with elsewhere(app) as other:
            assert (await sign_in(other, honest.email)).status_code == 200


async def test_the_account_is_locked_everywhere_only_at_a_much_higher_count(
    app_factory: AppFactory, redis_url: str | None
) -> None:
    # The defaults: 10 per pair, 50 per address, 100 for the account from everywhere.
    async with app_factory(redis_url=redis_url, trusted_proxies=["127.0.0.1"]) as (_, client):
        victim = await new_account(client)

        async def attempt(address: str, password: str) -> int:
            via = {"X-Forwarded-For": address}
            return (await sign_in(client, victim.email, password, headers=via)).status_code

        for n in range(10):  # ten guessers, ten guesses each, each at its pair limit
            for _ in range(10):
                assert await attempt(f"198.51.100.{n + 1}", "wrong") == 400
            if n == 1:  # twenty wrong passwords so far: the owner still gets in
                assert await attempt("192.0.2.77", PASSWORD) == 200
        locked = await sign_in(client, victim.email, headers={"X-Forwarded-For": "192.0.2.78"})
        assert locked.status_code == 429
        assert 1 <= int(locked.headers["retry-after"]) <= 900
        other = await new_account(client)
        assert (await sign_in(client, other.email)).status_code == 200


async def test_a_success_clears_an_honest_users_typos(
    app_factory: AppFactory, redis_url: str | None
) -> None:
    limits = {**LIMITS, "login_failures_per_address": 100, "login_failures_per_account": 100}
    async with app_factory(redis_url=redis_url, **limits) as (_app, client):
        user = await new_account(client)
        for _ in range(5):
            assert (await sign_in(client, user.email, "typo")).status_code == 400
            assert (await sign_in(client, user.email, "typo")).status_code == 400
            assert (await sign_in(client, user.email)).status_code == 200
            # Five rounds: ten failures from here, never three in a row.


async def test_memory_limiter_window_moves(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    limiter, rate = memory_limiter(), Rate(2, 60)
    assert await limiter.hit(rate, "k")
    now[0] += 30
    assert await limiter.hit(rate, "k")
    assert not await limiter.hit(rate, "k")
    assert await limiter.retry_after(rate, "k") == 30  # when the first hit leaves
    assert await limiter.retry_after(rate, "other") == 0
    now[0] += 31  # the first hit has left the window; the second has not
    assert await limiter.retry_after(rate, "k") == 0
    assert await limiter.hit(rate, "k")
    assert not await limiter.hit(rate, "k")


async def test_redis_limiter_counts_across_instances(live_redis_url: str) -> None:
    key = f"test:{uuid.uuid4()}"
    rate = Rate(2, 60)
    first, second = Redis.from_url(live_redis_url), Redis.from_url(live_redis_url)
    try:
        a, b = redis_limiter(first, live_redis_url), redis_limiter(second, live_redis_url)
        assert await a.hit(rate, key)
        assert await b.hit(rate, key)
        # Two API processes share one count.
        assert not await a.hit(rate, key)
        assert 0 < await a.retry_after(rate, key) <= 60
        await b.reset(rate, key)
        assert await a.retry_after(rate, key) == 0
    finally:
        await first.aclose()
        await second.aclose()


async def test_an_unreachable_redis_falls_back_to_counting_in_process() -> None:
    # An outage of the shared counter must neither stop alerts and reports with it nor
    # lift the limits on guessing passwords while it lasts.
    url = "redis://127.0.0.1:1/0"  # nothing listens there
    redis = Redis.from_url(url)
    try:
        limiter, rate = redis_limiter(redis, url), Rate(2, 60)
        assert await limiter.hit(rate, "k")
        assert await limiter.retry_after(rate, "k") == 0
        assert await limiter.hit(rate, "k")
        assert not await limiter.hit(rate, "k")
        assert await limiter.retry_after(rate, "k") > 0
        await limiter.reset(rate, "k")
        assert await limiter.hit(rate, "k")
    finally:
        await redis.aclose()
