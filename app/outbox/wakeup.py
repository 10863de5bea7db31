"""Waking the dispatcher when an outbox event commits, instead of making it poll.

In-process: `outbox.emit` marks the session, and when that session commits every
registered dispatcher's event is set. Across processes (PostgreSQL): `emit` also runs
`pg_notify`, delivered at commit, and a worker LISTENs on `CHANNEL`. Polling stays as
the fallback, so a lost notification only delays.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import event
from sqlalchemy.orm import Session

CHANNEL = "nw_outbox"
_KEY = "nw_outbox_emitted"
_waiting: set[asyncio.Event] = set()


def register(wake: asyncio.Event) -> None:
    _waiting.add(wake)


def unregister(wake: asyncio.Event) -> None:
    _waiting.discard(wake)


def notify() -> None:
    for wake in _waiting:
        wake.set()


async def idle(stop: asyncio.Event, wake: asyncio.Event, poll_s: float) -> None:
    """Wait until stopped, woken or `poll_s` seconds pass: a claiming loop with nothing
    to do (the push dispatcher's, each channel's), polling as the fallback."""
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    await asyncio.wait(waits, timeout=poll_s, return_when="FIRST_COMPLETED")
    for waiting in waits:
        waiting.cancel()


def mark(session: Session) -> None:
    session.info[_KEY] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_KEY, False):
        notify()


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous_transaction: object) -> None:
    session.info.pop(_KEY, None)
