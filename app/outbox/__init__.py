"""The outbox: the one path by which a change tells the world (DESIGN §3).

Every domain writes its events here, in the transaction of the change (`emit`); the
channels read them: push (app.push.dispatcher), realtime (the event log it writes,
tailed by app.realtime), and whatever else comes to listen. It sits below the domains
and the channels alike, so that no domain depends on a channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import new_id
from app.outbox import wakeup
from app.outbox.models import OutboxEvent


async def emit(session: AsyncSession, event_type: str, payload: dict[str, Any]) -> OutboxEvent:
    """Record an event in the caller's transaction: it exists exactly if the change does.

    Written with the session's next flush (at the latest, its commit).
    """
    event = OutboxEvent(id=new_id(), event_type=event_type, payload=payload)
    session.add(event)
    await wake_on_commit(session)
    return event


async def emit_many(
    session: AsyncSession, event_type: str, payloads: Sequence[dict[str, Any]]
) -> None:
    """Record many events of one type in one statement (a batch of reports)."""
    if not payloads:
        return
    await session.execute(
        insert(OutboxEvent.__table__),
        [{"id": new_id(), "event_type": event_type, "payload": p} for p in payloads],
    )
    await wake_on_commit(session)


async def wake_on_commit(session: AsyncSession) -> None:
    """Wake the channels when the session commits (in-process, and across processes on
    PostgreSQL): for an event, or for channel work written beside one (a webhook ping)."""
    wakeup.mark(session.sync_session)
    if session.get_bind().dialect.name == "postgresql":
        # Delivered to LISTENing workers when (and only if) this transaction commits.
        await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": wakeup.CHANNEL})
