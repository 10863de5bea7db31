"""The event log: what each user is to see, numbered by `seq`, kept for a retention period."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import insert_for, utcnow
from app.push.models import OutboxEvent
from app.realtime.models import LoggedEvent

# Writers of the log take this transaction-scoped lock on PostgreSQL, so rows commit in
# the order of their seq: a reader who has seen seq N never later finds a smaller one.
_LOG_LOCK = 0x6E776C6F67  # "nwlog"
REPLAY_PAGE = 1_000


@dataclass(frozen=True)
class Entry:
    seq: int
    event_type: str
    at: datetime
    data: dict[str, Any]


async def append(
    session: AsyncSession, event_id: uuid.UUID, event_type: str, users: list[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Log the event for these users (again: nothing twice); their seq numbers."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOG_LOCK})
    if users:
        now = utcnow()
        await session.execute(
            insert_for(session, LoggedEvent).on_conflict_do_nothing(
                index_elements=["event_id", "user_id"]
            ),
            [
                {"event_id": event_id, "user_id": u, "event_type": event_type, "created_at": now}
                for u in users
            ],
        )
    rows = await session.execute(
        select(LoggedEvent.user_id, LoggedEvent.seq).where(
            LoggedEvent.event_id == event_id, LoggedEvent.user_id.in_(users)
        )
    )
    return {user: seq for user, seq in rows.all()}


async def newest(session: AsyncSession) -> int:
    """The last seq logged (0 when nothing is)."""
    return int(await session.scalar(select(func.max(LoggedEvent.seq))) or 0)


async def after(
    session: AsyncSession, seq: int, limit: int
) -> list[tuple[int, uuid.UUID, uuid.UUID]]:
    """Everyone's entries after `seq`, oldest first: (seq, event id, user id)."""
    rows = await session.execute(
        select(LoggedEvent.seq, LoggedEvent.event_id, LoggedEvent.user_id)
        .where(LoggedEvent.seq > seq)
        .order_by(LoggedEvent.seq)
        .limit(limit)
    )
    return [(s, event_id, user_id) for s, event_id, user_id in rows.all()]


async def replay(
    session: AsyncSession, user_id: uuid.UUID, since: int, limit: int = REPLAY_PAGE
) -> list[Entry]:
    """The user's events after `since`, oldest first, at most `limit`."""
    rows = await session.execute(
        select(
            LoggedEvent.seq, LoggedEvent.event_type, OutboxEvent.created_at, OutboxEvent.realtime
        )
        .join(OutboxEvent, OutboxEvent.id == LoggedEvent.event_id)
        .where(LoggedEvent.user_id == user_id, LoggedEvent.seq > since)
        .order_by(LoggedEvent.seq)
        .limit(limit)
    )
    return [Entry(seq, kind, at, data or {}) for seq, kind, at, data in rows.all()]


async def holds(session: AsyncSession, since: int) -> bool:
    """Whether the log still holds everything after `since`: false when `since` is older
    than the oldest row kept, or newer than anything ever logged (another database)."""
    oldest, newest = (
        await session.execute(select(func.min(LoggedEvent.seq), func.max(LoggedEvent.seq)))
    ).one()
    if newest is None:
        return since == 0
    return oldest - 1 <= since <= newest


async def prune(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(delete(LoggedEvent).where(LoggedEvent.created_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
