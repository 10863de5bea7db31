"""Who hears an alert, and whether silently.

A resident watches their places; one with no place is represented by the areas of
the groups they are an active member of. An alert reaches every resident whose watched
areas touch its area — for a group alert, only that group's active members. Then their
preferences apply: muted categories and `min_severity` drop an alert, and quiet hours
make it silent, except when it is `extreme`. A `test` alert reaches only its issuer.

Spatial narrowing is the GeoIndex's (its candidate clause, joined here with places and
preferences so that one query brings back each candidate's owner, circle and
preferences); the exact test is `app.geo.shapes`'. Places are never all loaded.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, time
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.models import SEVERITY_RANK, Alert, AlertStatus, Severity
from app.db import raw_uuid, utcnow
from app.geo.index import index_for
from app.geo.shapes import Shape, circles_touching, from_geojson
from app.pagination import chunks
from app.sqlite_loop import offloaded


class Prefs(NamedTuple):
    muted_categories: Sequence[str]
    min_severity: str
    quiet_start: str | None
    quiet_end: str | None
    quiet_timezone: str | None


def in_quiet_hours(at: datetime, start: str, end: str, timezone: str) -> bool:
    """Whether `at` falls in [start, end) local time; a window may cross midnight."""
    local = at.astimezone(ZoneInfo(timezone)).time()
    begin, finish = time.fromisoformat(start), time.fromisoformat(end)
    if begin == finish:
        return False
    if begin < finish:
        return begin <= local < finish
    return local >= begin or local < finish


def decide(alert: Alert, prefs: Prefs | Any | None, at: datetime) -> bool | None:
    """None: the resident does not get it; otherwise whether it is delivered silently.

    `prefs` is anything with the attributes of `Prefs` (a Preferences row will do).
    """
    if alert.severity == Severity.extreme or prefs is None:
        return False
    if alert.category in (prefs.muted_categories or []):
        return None
    if SEVERITY_RANK[Severity(alert.severity)] < SEVERITY_RANK[Severity(prefs.min_severity)]:
        return None
    if prefs.quiet_start and prefs.quiet_end and prefs.quiet_timezone:
        return in_quiet_hours(at, prefs.quiet_start, prefs.quiet_end, prefs.quiet_timezone)
    return False


_PREF_COLUMNS = (
    "pr.muted_categories, pr.min_severity, pr.quiet_start, pr.quiet_end, pr.quiet_timezone"
)


def _prefs(row: Sequence[Any], offset: int) -> Prefs | None:
    muted, min_severity, start, end, zone = row[offset : offset + 5]
    if min_severity is None:
        return None
    if isinstance(muted, str):  # JSON arrives as text through raw SQL
        muted = json.loads(muted)
    return Prefs(muted or [], min_severity, start, end, zone)


def _as_uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    # SQLite hands back 32 hex digits; parsing them as an int is the quick way in.
    return uuid.UUID(int=int(value, 16)) if len(value) == 32 else uuid.UUID(str(value))


async def _place_holders(
    session: AsyncSession, alert: Alert, shape: Shape
) -> dict[uuid.UUID, Prefs | None]:
    """Residents with a place touching the area, with their preferences."""
    source, condition, params = index_for(session).candidate_clause(shape.boxes())
    member_join = ""
    if alert.group_id is not None:
        member_join = (
            " JOIN memberships m ON m.user_id = e.owner_id"
            " AND m.group_id = :group_id AND m.status = 'active'"
        )
        params["group_id"] = raw_uuid(session, alert.group_id)
    rows = (
        await session.execute(
            text(
                f"SELECT e.owner_id, e.lon, e.lat, e.radius_m, {_PREF_COLUMNS}"  # noqa: S608
                f" FROM {source}{member_join}"
                " LEFT JOIN preferences pr ON pr.user_id = e.owner_id"
                f" WHERE e.collection = 'place' AND {condition}"
            ),
            params,
        )
    ).all()
    if not rows:
        return {}
    hits = circles_touching(
        shape,
        np.fromiter((r[1] for r in rows), float, len(rows)),
        np.fromiter((r[2] for r in rows), float, len(rows)),
        np.fromiter((r[3] for r in rows), float, len(rows)),
    )
    # A resident with several matching places appears once per place: dedupe on the raw
    # key before paying for its conversion.
    matched = {rows[i][0]: rows[i] for i in np.flatnonzero(hits).tolist()}
    return {_as_uuid(key): _prefs(row, 4) for key, row in matched.items()}


async def _represented_by_groups(
    session: AsyncSession, alert: Alert, shape: Shape
) -> dict[uuid.UUID, Prefs | None]:
    """Residents with no place, in an active membership of a group whose area touches."""
    groups = await index_for(session).intersecting(session, "group", shape)
    # For a group alert, a member of that group is represented by all of their groups'
    # areas, not only by that group's (whose area holds the alert's in practice).
    member_of_alert_group = ""
    extra: dict[str, Any] = {}
    if alert.group_id is not None:
        member_of_alert_group = (
            " AND EXISTS (SELECT 1 FROM memberships a WHERE a.user_id = m.user_id"
            " AND a.group_id = :alert_group AND a.status = 'active')"
        )
        extra["alert_group"] = raw_uuid(session, alert.group_id)
    out: dict[uuid.UUID, Prefs | None] = {}
    for batch in chunks(groups):
        params = {f"g{i}": raw_uuid(session, g) for i, g in enumerate(batch)}
        rows = await session.execute(
            text(
                f"SELECT DISTINCT m.user_id, {_PREF_COLUMNS} FROM memberships m"  # noqa: S608
                " LEFT JOIN preferences pr ON pr.user_id = m.user_id"
                f" WHERE m.group_id IN ({', '.join(':' + k for k in params)})"
                " AND m.status = 'active'"
                " AND NOT EXISTS (SELECT 1 FROM places p WHERE p.user_id = m.user_id)"
                f"{member_of_alert_group}"
            ),
            {**params, **extra},
        )
        out.update({_as_uuid(r[0]): _prefs(r, 1) for r in rows.all()})
    return out


async def resolve_recipients(
    session: AsyncSession, alert: Alert, at: datetime | None = None
) -> dict[uuid.UUID, bool]:
    """Every recipient of `alert`, mapped to whether it reaches them silently."""
    at = at or alert.issued_at or utcnow()
    if alert.status == AlertStatus.test:
        return {alert.issuer_id: False} if alert.issuer_id else {}
    shape = from_geojson(alert.area)
    with offloaded():  # up to hundreds of thousands of rows (bench/alert_recipients.py)
        candidates = await _place_holders(session, alert, shape)
        candidates.update(await _represented_by_groups(session, alert, shape))
    out: dict[uuid.UUID, bool] = {}
    for user_id, prefs in candidates.items():
        silent = decide(alert, prefs, at)
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
