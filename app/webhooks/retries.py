"""When a failed webhook delivery is tried again: Standard Webhooks' schedule, jittered,
never sooner than the receiver's Retry-After asks."""

from __future__ import annotations

import email.utils
import random
from datetime import UTC, datetime, timedelta

# Seconds after each failed attempt before the next (Standard Webhooks' suggestion).
SCHEDULE = (5, 300, 1_800, 7_200, 18_000, 36_000, 36_000)
JITTER = 0.1
MAX_ATTEMPTS = len(SCHEDULE) + 1
# A Retry-After is honoured up to the longest step of the schedule.
MAX_RETRY_AFTER_S = max(SCHEDULE)
# Failing every attempt this long, with a delivery given up: the subscription is disabled.
DISABLE_AFTER = timedelta(days=1)


def wait(attempts: int, retry_after_s: float | None) -> timedelta:
    """After `attempts` failed attempts: the schedule's step, jittered, or longer if the
    receiver asked."""
    step = SCHEDULE[min(attempts, len(SCHEDULE)) - 1]
    seconds = step * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 (not a secret)
    if retry_after_s is not None:
        seconds = max(seconds, min(retry_after_s, MAX_RETRY_AFTER_S))
    return timedelta(seconds=seconds)


def retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds (RFC 9110 §10.2.3: delay-seconds or an HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
