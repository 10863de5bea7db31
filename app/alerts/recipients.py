"""Who hears an alert, and whether silently.

A resident watches their places; one with no place is represented by the areas of
the groups they are an active member of. An alert reaches every resident whose watched
areas touch its area — for a group alert, only that group's active members. Then their
preferences apply: muted categories and `min_severity` drop an alert, and quiet hours
make it silent, except when it is `extreme`. A `test` alert reaches only its issuer.
Each recipient's `Receipt` says why: the places or group areas that matched, the quiet
hours that made it silent, and what an `extreme` alert overrode; it is what
`GET /v1/alerts/{id}` shows them as `why`.

Spatial narrowing is the GeoIndex's (its candidate clause, joined here with places and
preferences so that one query brings back each candidate's owner, circle and
preferences); the exact test is `app.geo.shapes`'. Places are never all loaded.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Receipt:
    """Why one resident got an alert, and how."""

    silent: bool
    place_ids: tuple[uuid.UUID, ...] = ()  # their places the area touched
    group_ids: tuple[uuid.UUID, ...] = ()  # for a resident with no place: their groups'
    quiet_hours: tuple[str, str, str] | None = None  # (start, end, zone) that made it silent
    # What an `extreme` alert went past: "muted_category", "quiet_hours".
    overrode: tuple[str, ...] = ()


def judge(
    alert: Alert,
    prefs: Prefs | Any | None,
    at: datetime,
    place_ids: tuple[uuid.UUID, ...] = (),
    group_ids: tuple[uuid.UUID, ...] = (),
) -> Receipt | None:
    """None: the resident does not get it; otherwise how it reaches them, and why.

    `prefs` is anything with the attributes of `Prefs` (a Preferences row will do).
    """
    if prefs is None:
        return Receipt(False, place_ids, group_ids)
    muted = alert.category in (prefs.muted_categories or [])
    window = None
    if prefs.quiet_start and prefs.quiet_end and prefs.quiet_timezone:
        window = (prefs.quiet_start, prefs.quiet_end, prefs.quiet_timezone)
    quiet = window is not None and in_quiet_hours(at, *window)
    if alert.severity == Severity.extreme:  # no `min_severity` is above it
        overrode = (("muted_category",) if muted else ()) + (("quiet_hours",) if quiet else ())
        return Receipt(False, place_ids, group_ids, overrode=overrode)
    too_minor = (
        SEVERITY_RANK[Severity(alert.severity)] < SEVERITY_RANK[Severity(prefs.min_severity)]
    )
    if muted or too_minor:
        return None
    return Receipt(quiet, place_ids, group_ids, window if quiet else None)


def decide(alert: Alert, prefs: Prefs | Any | None, at: datetime) -> bool | None:
    """None: the resident does not get it; otherwise whether it is delivered silently."""
    receipt = judge(alert, prefs, at)
    return None if receipt is None else receipt.silent


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


# A candidate: their preferences, and the places (or groups) that made them one.
_Candidate = tuple[Prefs | None, tuple[uuid.UUID, ...]]


async def _place_holders(
    session: AsyncSession, alert: Alert, shape: Shape
) -> dict[uuid.UUID, _Candidate]:
    """Residents with a place touching the area: their preferences and those places."""
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
                f"SELECT e.owner_id, e.lon, e.lat, e.radius_m, e.object_id,"  # noqa: S608
                f" {_PREF_COLUMNS}"
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
    # A resident with several matching places appears once per place: grouped on the
    # raw key before paying for its conversion.
    matched: dict[Any, tuple[Sequence[Any], list[Any]]] = {}
    for i in np.flatnonzero(hits).tolist():
        row = rows[i]
        if (seen := matched.get(row[0])) is None:
            matched[row[0]] = (row, [row[4]])
        else:
            seen[1].append(row[4])
    return {
        _as_uuid(key): (_prefs(row, 5), tuple(_as_uuid(p) for p in places))
        for key, (row, places) in matched.items()
    }


async def _represented_by_groups(
    session: AsyncSession, alert: Alert, shape: Shape
) -> dict[uuid.UUID, _Candidate]:
    """Residents with no place, in an active membership of a group whose area touches:
    their preferences and those groups."""
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
    out: dict[uuid.UUID, _Candidate] = {}
    for batch in chunks(groups):
        params = {f"g{i}": raw_uuid(session, g) for i, g in enumerate(batch)}
        rows = await session.execute(
            text(
                f"SELECT m.user_id, m.group_id, {_PREF_COLUMNS} FROM memberships m"  # noqa: S608
                " LEFT JOIN preferences pr ON pr.user_id = m.user_id"
                f" WHERE m.group_id IN ({', '.join(':' + k for k in params)})"
                " AND m.status = 'active'"
                " AND NOT EXISTS (SELECT 1 FROM places p WHERE p.user_id = m.user_id)"
                f"{member_of_alert_group}"
            ),
            {**params, **extra},
        )
        for row in rows.all():
            user, group = _as_uuid(row[0]), _as_uuid(row[1])
            prefs, already = out.get(user, (None, ()))
            out[user] = (_prefs(row, 2) if not already else prefs, (*already, group))
    return out


async def resolve_receipts(
    session: AsyncSession, alert: Alert, at: datetime | None = None
) -> dict[uuid.UUID, Receipt]:
    """Every recipient of `alert`, with how it reaches them and why."""
    at = at or alert.issued_at or utcnow()
    if alert.status == AlertStatus.test:
        return {alert.issuer_id: Receipt(False)} if alert.issuer_id else {}
    shape = from_geojson(alert.area)
    with offloaded():  # up to hundreds of thousands of rows (bench/alert_recipients.py)
        by_place = await _place_holders(session, alert, shape)
        by_group = await _represented_by_groups(session, alert, shape)
    out: dict[uuid.UUID, Receipt] = {}
    for user_id, (prefs, places) in by_place.items():
        if (receipt := judge(alert, prefs, at, place_ids=places)) is not None:
            out[user_id] = receipt
    for user_id, (prefs, groups) in by_group.items():
        if (receipt := judge(alert, prefs, at, group_ids=groups)) is not None:
            out[user_id] = receipt
    return out


async def resolve_recipients(
    session: AsyncSession, alert: Alert, at: datetime | None = None
) -> dict[uuid.UUID, bool]:
    """Every recipient of `alert`, mapped to whether it reaches them silently."""
    return {user: r.silent for user, r in (await resolve_receipts(session, alert, at)).items()}


async def resolve_chain_receipts(
    session: AsyncSession, versions: list[Alert], at: datetime | None = None
) -> dict[uuid.UUID, Receipt]:
    """An update or cancel reaches everyone any version reached; the newest version that
    reached a resident says how and why."""
    out: dict[uuid.UUID, Receipt] = {}
    for version in versions:  # oldest first, so the newest version's decision wins
        out.update(await resolve_receipts(session, version, at))
    return out


async def resolve_chain_recipients(
    session: AsyncSession, versions: list[Alert], at: datetime | None = None
) -> dict[uuid.UUID, bool]:
    """Like `resolve_chain_receipts`, mapped to whether it reaches them silently."""
    receipts = await resolve_chain_receipts(session, versions, at)
    return {user: r.silent for user, r in receipts.items()}
