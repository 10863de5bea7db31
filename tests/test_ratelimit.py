"""The in-process limiter: counts stay right between its (infrequent) sweeps, and a sweep
frees what has expired."""

from __future__ import annotations

import asyncio

import pytest

from app import ratelimit
from app.ratelimit import Rate, memory_limiter


async def test_expired_events_do_not_count_between_sweeps() -> None:
    limiter, rate = memory_limiter(), Rate(1, 1)
    assert await limiter.hit(rate, "a")
    assert not await limiter.hit(rate, "a")
    await asyncio.sleep(1.05)  # the window moves past the first hit; no sweep has run
    assert await limiter.hit(rate, "a")


async def test_a_sweep_frees_expired_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit._SweepingMemoryStorage, "SWEEP_S", 0.0)
    limiter, rate = memory_limiter(), Rate(1, 1)
    await limiter.hit(rate, "gone")
    await asyncio.sleep(1.05)
    await limiter.hit(rate, "other")  # starts a sweep
    for _ in range(50):
        await asyncio.sleep(0.02)
        if not any("gone" in key for key in limiter.storage.events):  # type: ignore[attr-defined]
            return
    raise AssertionError("the expired key was never swept")
