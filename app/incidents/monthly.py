"""Residents' reports counted by month and category, for evidence (app.evidence): on the
points a caller is shown, or on the snapped points alone for arbitrary areas."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.models import User
from app.db import raw_uuid
from app.geo.shapes import Shape
from app.incidents import service
from app.incidents.models import Incident
from app.sqlite_loop import offloaded


async def seen_in(session: AsyncSession, user: User, shape: Shape) -> list[uuid.UUID]:
    """Reports in `shape` as `user` is shown them (exact or snapped point), as the other
    group statistics count them."""
    return sorted(await service._in_area(session, shape, await service.exact_ids_of(session, user)))


async def snapped_in(session: AsyncSession, shape: Shape) -> list[uuid.UUID]:
    """Reports whose snapped point is in `shape`, whoever asks: an area drawn anywhere
    then says no more than the public grid does."""
    return sorted(await service._snapped_ids_in(session, shape))


def _month_sql(dialect: str) -> str:
    if dialect == "postgresql":
        return "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM')"
    return "strftime('%Y-%m', occurred_at)"


async def monthly_counts(
    session: AsyncSession, ids: list[uuid.UUID], start: date, end: date
) -> dict[tuple[str, str], int]:
    """(YYYY-MM, category) → reports that occurred in [start, end), rejected ones left out."""
    dialect = session.get_bind().dialect.name
    bounds = [datetime.combine(d, time(), UTC) for d in (start, end)]
    if dialect == "sqlite":  # UTCDateTime stores naive UTC there
        bounds = [b.replace(tzinfo=None) for b in bounds]
    counts: dict[tuple[str, str], int] = {}
    with offloaded():
        for first in range(0, len(ids), service.STATS_CHUNK):
            chunk = ids[first : first + service.STATS_CHUNK]
            id_params = {f"i{n}": raw_uuid(session, i) for n, i in enumerate(chunk)}
            rows = await session.execute(
                text(
                    f"SELECT {_month_sql(dialect)} AS month, category, COUNT(*)"  # noqa: S608
                    " FROM incidents WHERE occurred_at >= :start AND occurred_at < :end"
                    " AND status <> 'rejected'"
                    f" AND id IN ({', '.join(':' + k for k in id_params)})"
                    " GROUP BY month, category"
                ),
                {"start": bounds[0], "end": bounds[1], **id_params},
            )
            for month, category, n in rows.all():
                counts[(month, category)] = counts.get((month, category), 0) + int(n)
    return counts


async def first_report_at(session: AsyncSession) -> datetime | None:
    """When the earliest report held occurred: before it, no period is covered."""
    first: datetime | None = await session.scalar(select(func.min(col(Incident.occurred_at))))
    return first
