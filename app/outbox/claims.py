"""Claims under a lease: how any number of workers share a table of pending work.

A row is due when it is `pending`, its due time has come and no live lease holds it.
Claiming sets its lease; a worker that dies lets it run out, and another claims the row
again (at least once). On PostgreSQL rows another worker is claiming are skipped
(`FOR UPDATE SKIP LOCKED`), so claimers never wait on each other; SQLite has one writer.
Used for outbox events and for every channel's deliveries.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession


async def claim(
    session: AsyncSession,
    table: Table,
    due_column: Any,
    limit: int,
    lease: timedelta,
    now: datetime,
) -> list[uuid.UUID]:
    """Up to `limit` due rows of `table` (oldest due first), leased until now + lease."""
    c = table.c
    stmt = (
        select(c.id)
        .where(
            c.state == "pending",
            due_column <= now,
            or_(c.lease_until.is_(None), c.lease_until < now),
        )
        .order_by(due_column)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    ids = list((await session.execute(stmt)).scalars())
    if ids:
        await session.execute(update(table).where(c.id.in_(ids)).values(lease_until=now + lease))
    return ids
