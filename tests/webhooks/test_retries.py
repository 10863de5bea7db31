"""The retry schedule spans more than a day however the jitter falls, and Retry-After is
read in both of its forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from app.webhooks import retries


def test_the_schedule_spans_a_day_at_its_shortest() -> None:
    shortest = sum(step * (1 - retries.JITTER) for step in retries.SCHEDULE)
    assert shortest >= 24 * 3600
    assert len(retries.SCHEDULE) + 1 == retries.MAX_ATTEMPTS


@pytest.mark.parametrize("attempts", range(1, retries.MAX_ATTEMPTS))
def test_each_wait_is_its_step_jittered(attempts: int) -> None:
    step = retries.SCHEDULE[attempts - 1]
    waits = {retries.wait(attempts, None).total_seconds() for _ in range(50)}
    assert all(step * 0.9 <= w <= step * 1.1 for w in waits)
    assert len(waits) > 1  # jittered, so that retries do not stampede


def test_retry_after_is_a_floor_up_to_the_longest_step() -> None:
    assert retries.wait(1, 600).total_seconds() == 600
    assert retries.wait(1, 10**9).total_seconds() == retries.MAX_RETRY_AFTER_S
    assert retries.wait(3, 1).total_seconds() >= 1_800 * 0.9  # never sooner than the schedule


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert retries.retry_after("120", now) == 120
    assert retries.retry_after(format_datetime(now + timedelta(minutes=5), usegmt=True), now) == 300
    assert retries.retry_after("soon", now) is None
    assert retries.retry_after(None, now) is None
