"""The weekly check of what is rising, for every verified group.

Run by the dispatcher process beside its other loops (`checking`); tests call
`run_checks` with the time they choose. A group is checked when a week has passed since
its last check (`evidence_checks.checked_at`, committed with the event it led to, so a
restart neither checks again early nor notifies twice), over the last three complete
months, and its coordinators are told (`evidence.rising`, push and realtime) only of a
rise not already told for that period. Residents' reports are counted on their snapped
points, exactly, as the group's own stats show them to any member: the message says no
more than they do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app import outbox
from app.db import utcnow
from app.evidence import service
from app.evidence.models import EvidenceCheck
from app.evidence.months import Months, label
from app.geo.shapes import from_geojson
from app.groups import service as groups_service
from app.groups.models import Verification
from app.incidents import monthly

log = logging.getLogger("app.evidence")

EVENT = "evidence.rising"
CHECK_EVERY = timedelta(days=7)
PASS_EVERY_S = 3600.0  # how often the loop looks for groups that are due


def _key(source: str, category: str) -> str:
    return f"{source}:{category}"


async def check_group(session: AsyncSession, group_id: uuid.UUID, now: datetime) -> bool:
    """Check one group if it is due; True when its coordinators were notified."""
    record = await session.scalar(
        select(EvidenceCheck)
        .where(col(EvidenceCheck.group_id) == group_id)
        .with_for_update(skip_locked=True)
    )
    if record is not None and record.checked_at > now - CHECK_EVERY:
        return False
    groups = await groups_service.groups_by_id(session, [group_id])
    if not groups or groups[0].verification != Verification.verified:
        return False
    area = from_geojson(groups[0].area)
    months = Months.last_complete(now.date())
    found = await service.evidence(
        session, area, months, await monthly.snapped_in(session, area), rounded=False
    )
    told = set(record.notified) if record and record.period_last == months.last else set()
    new = [t for t in found.rising if _key(t.source, t.category.value) not in told]
    if new:
        await outbox.emit(
            session,
            EVENT,
            {
                "group_id": str(group_id),
                "first": label(months.first),
                "last": label(months.last),
                "rising": [
                    {
                        "source": t.source,
                        "category": t.category.value,
                        "current": t.current,
                        "previous": t.previous,
                        "p_value": t.p_value,
                    }
                    for t in new
                ],
            },
        )
    notified = sorted(told | {_key(t.source, t.category.value) for t in found.rising})
    if record is None:
        # A second worker checking the same group at once fails on the primary key and
        # rolls back, event and all.
        session.add(
            EvidenceCheck(
                group_id=group_id, checked_at=now, period_last=months.last, notified=notified
            )
        )
    else:
        record.checked_at, record.period_last, record.notified = now, months.last, notified
    await session.flush()
    return bool(new)


async def run_checks(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime | None = None
) -> int:
    """One pass over the verified groups, each in its own transaction; returns how many
    groups' coordinators were notified."""
    now = now or utcnow()
    async with sessionmaker() as session:
        group_ids = await groups_service.verified_group_ids(session)
    notified = 0
    for group_id in group_ids:
        try:
            async with sessionmaker() as session, session.begin():
                notified += await check_group(session, group_id, now)
        except IntegrityError:  # another worker checked it meanwhile
            continue
    return notified


async def checking(
    sessionmaker: async_sessionmaker[AsyncSession],
    stop: asyncio.Event,
    every_s: float = PASS_EVERY_S,
) -> None:
    """`run_checks` now and every `every_s` until `stop` is set; a failure is logged and
    the loop goes on (the database may be away for a while)."""
    while not stop.is_set():
        try:
            await run_checks(sessionmaker)
        except Exception:
            log.exception("evidence check failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)
