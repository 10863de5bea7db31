"""Who hears an alert, and whether silently (DESIGN §4, issue rules).

A resident watches their places; one with no place is represented by the areas of
the groups they are an active member of. An alert reaches every resident whose watched
areas touch its area — for a group alert, only that group's active members. Then their
preferences apply: muted categories and `min_severity` drop an alert, and quiet hours
make it silent, except when it is `extreme`. A `test` alert reaches only its issuer.

Spatial matching goes through the GeoIndex; places are never all loaded into Python.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.models import SEVERITY_RANK, Alert, AlertStatus, Place, Preferences, Severity
from app.db import utcnow
from app.geo.index import index_for
from app.geo.shapes import from_geojson
from app.groups.models import Membership, MembershipStatus

CHUNK = 900  # below every backend's limit on bound parameters per statement


def chunks(items: Iterable[uuid.UUID], size: int = CHUNK) -> Iterator[list[uuid.UUID]]:
    batch: list[uuid.UUID] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def in_quiet_hours(at: datetime, start: str, end: str, timezone: str) -> bool:
    """Whether `at` falls in [start, end) local time; a window may cross midnight."""
    local = at.astimezone(ZoneInfo(timezone)).time()
    begin, finish = time.fromisoformat(start), time.fromisoformat(end)
    if begin == finish:
        return False
    if begin < finish:
        return begin <= local < finish
    return local >= begin or local < finish


def decide(alert: Alert, prefs: Preferences | None, at: datetime) -> bool | None:
    """None: the resident does not get it; otherwise whether it is delivered silently."""
    if alert.severity == Severity.extreme or prefs is None:
        return False
    if alert.category in (prefs.muted_categories or []):
        return None
    if SEVERITY_RANK[Severity(alert.severity)] < SEVERITY_RANK[Severity(prefs.min_severity)]:
        return None
    if prefs.quiet_start and prefs.quiet_end and prefs.quiet_timezone:
        return in_quiet_hours(at, prefs.quiet_start, prefs.quiet_end, prefs.quiet_timezone)
    return False


async def _users_near(session: AsyncSession, alert: Alert) -> set[uuid.UUID]:
    shape = from_geojson(alert.area)
    index = index_for(session)
    users: set[uuid.UUID] = set()
    for batch in chunks(await index.intersecting(session, "place", shape)):
        rows = await session.execute(select(Place.user_id).where(Place.id.in_(batch)))
        users.update(rows.scalars())
    # Residents with no place are represented by the areas of their groups.
    groups = await index.intersecting(session, "group", shape)
    has_place = exists().where(Place.user_id == Membership.user_id)
    for batch in chunks(groups):
        rows = await session.execute(
            select(Membership.user_id).where(
                Membership.group_id.in_(batch),
                Membership.status == MembershipStatus.active.value,
                ~has_place,
            )
        )
        users.update(rows.scalars())
    return users


async def _group_members(
    session: AsyncSession, group_id: uuid.UUID, users: set[uuid.UUID]
) -> set[uuid.UUID]:
    members: set[uuid.UUID] = set()
    for batch in chunks(users):
        rows = await session.execute(
            select(Membership.user_id).where(
                and_(
                    Membership.group_id == group_id,
                    Membership.user_id.in_(batch),
                    Membership.status == MembershipStatus.active.value,
                )
            )
        )
        members.update(rows.scalars())
    return members


async def resolve_recipients(
    session: AsyncSession, alert: Alert, at: datetime | None = None
) -> dict[uuid.UUID, bool]:
    """Every recipient of `alert`, mapped to whether it reaches them silently."""
    at = at or alert.issued_at or utcnow()
    if alert.status == AlertStatus.test:
        return {alert.issuer_id: False} if alert.issuer_id else {}
    users = await _users_near(session, alert)
    if alert.group_id is not None:
        users = await _group_members(session, alert.group_id, users)
    prefs: dict[uuid.UUID, Preferences] = {}
    for batch in chunks(users):
        rows = await session.execute(select(Preferences).where(Preferences.user_id.in_(batch)))
        prefs.update({p.user_id: p for p in rows.scalars()})
    out: dict[uuid.UUID, bool] = {}
    for user_id in users:
        silent = decide(alert, prefs.get(user_id), at)
        if silent is not None:
            out[user_id] = silent
    return out


async def resolve_chain_recipients(
    session: AsyncSession, versions: list[Alert], at: datetime | None = None
) -> dict[uuid.UUID, bool]:
    """An update or cancel reaches everyone any version reached (the newest decides silence)."""
    out: dict[uuid.UUID, bool] = {}
    for version in versions:  # oldest first, so the newest version's decision wins
        out.update(await resolve_recipients(session, version, at))
    return out
