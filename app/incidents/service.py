"""Incident rules: who sees a report and how exactly, submission, moderation, statistics.

Who sees a report, and how:
- its reporter: everything;
- moderators see the exact point and moderate: the coordinators and owner of a
  *verified* group whose area holds the point (only reports submitted since the group
  was verified), agency officers whose jurisdiction holds it, admins;
- who filed an anonymous report: only such agency officers and admins (officers);
- active members of a group whose area holds the *snapped* point see that point, and
  the reporter's display name only if they chose to be named.
Non-moderators are matched on the snapped point everywhere (listing, filters,
statistics, events), so that no group area, drawn however small, says more than it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

import numpy as np
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import outbox
from app.auth.models import Role, User
from app.auth.names import display_names
from app.categories import Category
from app.db import raw_uuid, utcnow
from app.geo.index import index_for
from app.geo.shapes import Circle, Shape, circles_touching, from_geojson, intersects
from app.groups import service as groups_service
from app.groups.models import Group, GroupRole, Verification
from app.groups.service import GroupAccess
from app.incidents.models import (
    TRANSITIONS,
    Incident,
    IncidentStatus,
    IncidentUpdate,
    StatusChange,
)
from app.incidents.schemas import (
    ClusterRef,
    GroupStats,
    IncidentRead,
    PeriodStats,
    Reporter,
    StatusChangeRead,
    TransitionRequest,
    UpdateCreate,
    UpdateRead,
    WeekCount,
)
from app.pagination import Page, chunks, newest_first, page_of
from app.problems import conflict, forbidden, invalid, not_found
from app.schemas import FIRST_YEAR, LAST_YEAR, YEARS
from app.settings import Settings
from app.sqlite_loop import offloaded

GEO_COLLECTION = "incident"
COUNTED_AS_VERIFIED = (IncidentStatus.verified, IncidentStatus.forwarded, IncidentStatus.resolved)


@dataclass(frozen=True)
class Viewer:
    can_see: bool
    moderator: bool  # sees the exact point and moderates: see `viewer_of`
    reporter: bool
    officer: bool = False  # agency (jurisdiction) or admin: sees who filed anonymously

    @property
    def exact(self) -> bool:
        return self.moderator or self.reporter

    @property
    def reveals_reporter(self) -> bool:
        return self.officer or self.reporter


@dataclass(frozen=True)
class Reach:
    """What one (non-admin) user may list: report ids by how they see them."""

    member: set[uuid.UUID]  # the snapped point lies in one of their groups' areas
    moderated: set[uuid.UUID]  # they see the exact point (and moderate)
    officer: set[uuid.UUID]  # agency: inside their jurisdiction

    @property
    def visible(self) -> set[uuid.UUID]:
        return self.member | self.moderated


def moderates_since(group: Group, role: str | None) -> datetime | None:
    """From when a member in `role` moderates the group's reports: only the coordinators
    and owner of a verified group, and only what was reported after it was verified."""
    if role not in groups_service.MODERATOR_ROLES:
        return None
    if group.verification != Verification.verified.value:
        return None
    return group.verified_at


def moderated_by(group: Group, role: str | None, incident: Incident) -> bool:
    since = moderates_since(group, role)
    return since is not None and incident.reported_at >= since


async def _reach(session: AsyncSession, user: User) -> Reach:
    """Non-moderators are matched on the snapped point they are shown, so that no group
    area, however small or however placed, tells them more than that point does."""
    member: set[uuid.UUID] = set()
    moderated: set[uuid.UUID] = set()
    officer: set[uuid.UUID] = set()
    for group, role in await groups_service.active_memberships(session, user.id):
        area = from_geojson(group.area)
        member |= await _snapped_ids_in(session, area)
        since = moderates_since(group, role)
        if since is not None:
            moderated |= await _reported_since(session, await _ids_in(session, [area]), since)
    if user.role == Role.agency and user.jurisdiction:
        officer = await _ids_in(session, [from_geojson(user.jurisdiction)])
        moderated |= officer
    return Reach(member, moderated, officer)


async def _ids_in(session: AsyncSession, shapes: list[Shape]) -> set[uuid.UUID]:
    """Reports whose exact point lies in one of `shapes` (for moderators' eyes)."""
    index = index_for(session)
    ids: set[uuid.UUID] = set()
    with offloaded():  # a large area holds many reports
        for shape in shapes:
            ids.update(await index.intersecting(session, GEO_COLLECTION, shape))
    return ids


async def _snapped_ids_in(session: AsyncSession, shape: Shape) -> set[uuid.UUID]:
    """Reports whose snapped point lies in `shape`: the box on the snapped columns' index
    narrows, the same exact test as the geo index decides."""
    ids: set[uuid.UUID] = set()
    with offloaded():
        for west, south, east, north in shape.boxes():
            rows = (
                await session.execute(
                    select(
                        col(Incident.id), col(Incident.snapped_lon), col(Incident.snapped_lat)
                    ).where(
                        col(Incident.snapped_lat).between(south, north),
                        col(Incident.snapped_lon).between(west, east),
                    )
                )
            ).all()
            if not rows:
                continue
            lon = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
            lat = np.fromiter((r[2] for r in rows), dtype=np.float64, count=len(rows))
            inside = circles_touching(shape, lon, lat, np.zeros(len(rows)))
            ids.update(r[0] for r, hit in zip(rows, inside, strict=True) if hit)
    return ids


async def shown_in(session: AsyncSession, shapes: Sequence[Shape]) -> set[uuid.UUID]:
    """Reports whose snapped point lies in one of `shapes`: what members of groups with
    these areas are shown (as the public sees a report, snapped and without reporter)."""
    ids: set[uuid.UUID] = set()
    for shape in shapes:
        ids |= await _snapped_ids_in(session, shape)
    return ids


async def _reported_since(
    session: AsyncSession, ids: set[uuid.UUID], since: datetime
) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    for chunk in chunks(sorted(ids)):
        rows = await session.execute(
            select(col(Incident.id)).where(
                col(Incident.id).in_(chunk), col(Incident.reported_at) >= since
            )
        )
        found.update(rows.scalars())
    return found


async def _in_area(
    session: AsyncSession, shape: Shape, exact_ids: set[uuid.UUID] | None
) -> set[uuid.UUID]:
    """Reports in `shape` as a caller sees them: by the exact point for those in
    `exact_ids` (None: all of them), by the snapped point for the rest."""
    exact_in = await _ids_in(session, [shape])
    if exact_ids is None:
        return exact_in
    return (exact_in & exact_ids) | (await _snapped_ids_in(session, shape) - exact_ids)


async def moderated_ids(
    session: AsyncSession, user: User, group: Group | None = None
) -> set[uuid.UUID] | None:
    """The reports `user` moderates (None: all, for admins), with `group` those whose
    exact point lies in its area."""
    in_group = None if group is None else await _ids_in(session, [from_geojson(group.area)])
    if user.role == Role.admin:
        return in_group
    moderated = (await _reach(session, user)).moderated
    return moderated if in_group is None else moderated & in_group


async def visible_ids(session: AsyncSession, user: User) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """For a non-admin: the reports they may see, and those they see on the exact point."""
    reach = await _reach(session, user)
    own = await session.execute(
        select(col(Incident.id)).where(col(Incident.reporter_id) == user.id)
    )
    mine = set(own.scalars())
    return reach.visible | mine, reach.moderated | mine


async def exact_ids_of(session: AsyncSession, user: User) -> set[uuid.UUID] | None:
    """The reports `user` sees exactly (None: all, for admins)."""
    if user.role == Role.admin:
        return None
    mine = await session.execute(
        select(col(Incident.id)).where(col(Incident.reporter_id) == user.id)
    )
    return (await _reach(session, user)).moderated | set(mine.scalars())


async def groups_containing(session: AsyncSession, incident: Incident) -> list[uuid.UUID]:
    """The groups whose area holds the incident's exact place (whose moderators' it is)."""
    return await index_for(session).intersecting(
        session, "group", Circle(incident.lon, incident.lat)
    )


async def groups_showing(session: AsyncSession, incident: Incident) -> list[uuid.UUID]:
    """The groups whose area holds the snapped point: whose members see the report."""
    return await index_for(session).intersecting(
        session, "group", Circle(incident.snapped_lon, incident.snapped_lat)
    )


async def outside_every_group(
    session: AsyncSession, points: dict[uuid.UUID, tuple[float, float, float, float]]
) -> set[uuid.UUID]:
    """Of these reports (id → exact lon, lat, snapped lon, lat), those no group's area
    holds by either point: most reports, as the dispatcher sees them, found for a whole
    batch at once."""
    index = index_for(session)
    shapes = {
        (i, which): Circle(p[2 * which], p[2 * which + 1])
        for i, p in points.items()
        for which in (0, 1)
    }
    found = await index.intersecting_each(session, "group", shapes)
    return {i for i in points if not found[(i, 0)] and not found[(i, 1)]}


async def hearers(session: AsyncSession, incident: Incident) -> set[uuid.UUID]:
    """Who is told of a new report: the members of the groups that show it, and the
    moderators of the verified groups whose area holds it."""
    showing = await groups_showing(session, incident)
    users = await groups_service.member_ids(session, showing) if showing else set()
    exact = [g for g in await groups_containing(session, incident) if g not in showing]
    if exact:
        groups = await groups_service.groups_by_id(session, exact)
        owner = GroupRole.owner.value
        moderating = [g.id for g in groups if moderated_by(g, owner, incident)]
        if moderating:
            users |= await groups_service.member_ids(session, moderating, moderators_only=True)
    return users


async def forget_exact_points(
    session: AsyncSession, incident_ids: Sequence[uuid.UUID], now: datetime
) -> int:
    """Replace these reports' exact points (and accuracy) by their snapped ones, in the
    table and in the geo index, for everyone, moderators included: on the reporter's
    erasure, and past NW_EXACT_LOCATION_DAYS (app.retention). How many were moved."""
    table = Incident.__table__
    moved: list[Any] = []
    c = table.c
    for chunk in chunks(incident_ids):
        rows = await session.execute(
            update(table)
            .where(c.id.in_(chunk))
            .values(lon=c.snapped_lon, lat=c.snapped_lat, accuracy_m=None, updated_at=now)
            .returning(c.id, c.snapped_lon, c.snapped_lat)
        )
        moved += rows.all()
    await index_for(session).put_many(
        session, GEO_COLLECTION, [(i, Circle(lon, lat)) for i, lon, lat in moved]
    )
    return len(moved)


async def viewer_of(session: AsyncSession, user: User, incident: Incident) -> Viewer:
    reporter = incident.reporter_id == user.id
    if user.role == Role.admin:
        return Viewer(True, True, reporter, officer=True)
    officer = bool(
        user.role == Role.agency
        and user.jurisdiction
        and intersects(from_geojson(user.jurisdiction), Circle(incident.lon, incident.lat))
    )
    moderator = officer
    if not moderator:
        exact_groups = await groups_containing(session, incident)
        memberships = await groups_service.active_memberships(session, user.id, exact_groups)
        moderator = any(moderated_by(group, role, incident) for group, role in memberships)
    member = bool(
        await groups_service.roles_in(session, user.id, await groups_showing(session, incident))
    )
    return Viewer(member or moderator or reporter, moderator, reporter, officer)


async def load_incident(
    session: AsyncSession, user: User, incident_id: uuid.UUID
) -> tuple[Incident, Viewer]:
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise not_found("incident")
    viewer = await viewer_of(session, user, incident)
    if not viewer.can_see:
        raise not_found("incident")
    return incident, viewer


async def incident_read(
    session: AsyncSession,
    incident: Incident,
    viewer: Viewer | None,
    user: User | None = None,
    settings: Settings | None = None,
) -> IncidentRead:
    """One report as `viewer` sees it (None: as the public, a member, sees it); its
    cluster only for a moderator `user`, as they are shown it (`clusters.shown_members`)."""
    from app.incidents.clusters import Linking, cluster_refs  # clusters builds on this module

    names = await display_names(session, {incident.reporter_id})
    refs = {}
    if viewer and viewer.moderator and user is not None and settings is not None:
        refs = await cluster_refs(session, [incident.id])
        if refs and user.role != Role.admin:  # in a cluster: as this moderator is shown it
            among = await moderated_ids(session, user)
            refs = await cluster_refs(session, [incident.id], among, Linking.of(settings))
    return to_read(
        incident,
        viewer.exact if viewer else False,
        names.get(incident.reporter_id) if incident.reporter_id else None,
        reveal=viewer.reveals_reporter if viewer else False,
        cluster=refs.get(incident.id),
    )


class ReportFields(Protocol):
    """What a report's reading is made of: an `Incident`, or a row about to be written."""

    id: uuid.UUID
    reporter_id: uuid.UUID | None
    category: str
    description: str
    occurred_at: datetime
    reported_at: datetime
    lon: float
    lat: float
    accuracy_m: float | None
    snapped_lon: float
    snapped_lat: float
    anonymous: bool
    status: str
    police_reference: str | None


def to_read(
    incident: ReportFields,
    exact: bool,
    reporter_name: str | None,
    reveal: bool | None = None,
    cluster: ClusterRef | None = None,
) -> IncidentRead:
    """`exact`: the viewer sees the exact point; `reveal` (default: as `exact`, for the
    reporter): they see who filed an anonymous report, which only officers do; `cluster`
    only for a moderator (app.incidents.clusters)."""
    lon, lat = (
        (incident.lon, incident.lat) if exact else (incident.snapped_lon, incident.snapped_lat)
    )
    # Past its retention period the exact point is the snapped one (app.retention): then
    # no reader, a moderator included, is told that it is exact.
    exact_point = exact and (incident.lon, incident.lat) != (
        incident.snapped_lon,
        incident.snapped_lat,
    )
    reveal = exact if reveal is None else reveal
    reporter = None
    if reporter_name is not None and (reveal or not incident.anonymous):
        reporter = Reporter(id=incident.reporter_id if exact else None, display_name=reporter_name)
    return IncidentRead(
        id=incident.id,
        category=Category(incident.category),
        description=incident.description,
        occurred_at=incident.occurred_at,
        reported_at=incident.reported_at,
        location={"type": "Point", "coordinates": [lon, lat]},
        location_exact=exact_point,
        accuracy_m=incident.accuracy_m if exact else None,
        status=IncidentStatus(incident.status),
        anonymous=incident.anonymous,
        reporter=reporter,
        police_reference=incident.police_reference if exact else None,
        cluster=cluster,
    )


@dataclass(frozen=True)
class IncidentFilters:
    group_id: uuid.UUID | None = None
    bbox: tuple[float, float, float, float] | None = None
    category: Category | None = None
    status: IncidentStatus | None = None
    since: datetime | None = None


async def list_incidents(
    session: AsyncSession,
    settings: Settings,
    user: User,
    filters: IncidentFilters,
    limit: int,
    cursor: str | None,
) -> Page[IncidentRead]:
    admin = user.role == Role.admin
    reach = None if admin else await _reach(session, user)
    mine: set[uuid.UUID] = set()
    # The ids the caller may list, and those they see exactly (None: all, for admins).
    ids: set[uuid.UUID] | None = None
    exact_ids: set[uuid.UUID] | None = None
    if reach is not None:
        own = await session.execute(
            select(col(Incident.id)).where(col(Incident.reporter_id) == user.id)
        )
        mine = set(own.scalars())
        ids, exact_ids = reach.visible | mine, reach.moderated | mine
    if filters.group_id is not None:
        access = await groups_service.load_group(session, filters.group_id, user)
        in_group = await _in_area(session, from_geojson(access.group.area), exact_ids)
        ids = in_group if ids is None else ids & in_group
    rows = await filtered_rows(session, filters, ids, limit, cursor)
    names = await display_names(session, {r.reporter_id for r in rows})
    from app.incidents.clusters import Linking, cluster_refs  # clusters builds on this module

    refs = await cluster_refs(
        session,
        [r.id for r in rows if reach is None or r.id in reach.moderated],
        None if reach is None else reach.moderated,
        Linking.of(settings),
    )

    def convert(incident: Incident) -> IncidentRead:
        exact = exact_ids is None or incident.id in exact_ids
        reveal = reach is None or incident.id in mine or incident.id in reach.officer
        return to_read(
            incident,
            exact,
            names.get(incident.reporter_id) if incident.reporter_id else None,
            reveal=reveal,
            cluster=refs.get(incident.id),
        )

    return page_of(rows, limit, lambda i: (i.reported_at, i.id), convert)


async def filtered_rows(
    session: AsyncSession,
    filters: IncidentFilters,
    ids: set[uuid.UUID] | None,
    limit: int,
    cursor: str | None,
) -> list[Incident]:
    """The newest limit+1 reports among `ids` (None: all) that pass the filters other
    than `group_id` (which the caller has applied to `ids`)."""
    stmt = select(Incident)
    if filters.bbox is not None:
        # On the snapped point, so that a tiny box cannot locate a report exactly.
        west, south, east, north = filters.bbox
        stmt = stmt.where(
            col(Incident.snapped_lon).between(west, east),
            col(Incident.snapped_lat).between(south, north),
        )
    if filters.category is not None:
        stmt = stmt.where(col(Incident.category) == filters.category.value)
    if filters.status is not None:
        stmt = stmt.where(col(Incident.status) == filters.status.value)
    if filters.since is not None:
        stmt = stmt.where(col(Incident.reported_at) >= filters.since)
    page_stmt = newest_first(stmt, col(Incident.reported_at), col(Incident.id), cursor, limit)
    if ids is None:
        rows = list((await session.execute(page_stmt)).scalars().all())
    else:
        # Each chunk yields its newest limit+1; the newest limit+1 of them all is the page.
        rows = []
        for chunk in chunks(sorted(ids)):
            result = await session.execute(page_stmt.where(col(Incident.id).in_(chunk)))
            rows += result.scalars().all()
        rows.sort(key=lambda i: (i.reported_at, i.id), reverse=True)
        rows = rows[: limit + 1]
    return rows


async def transition(
    session: AsyncSession,
    user: User,
    incident: Incident,
    viewer: Viewer,
    data: TransitionRequest,
    *,
    announce: bool = True,
) -> Incident:
    """`announce=False`: no `incident.verified` of its own (a cluster's transition emits
    one for all its reports, app.incidents.cluster_service)."""
    if not viewer.moderator:
        raise forbidden("Only the area's coordinators, agency officers and admins moderate.")
    current, target = IncidentStatus(incident.status), data.status
    if target not in TRANSITIONS[current]:
        raise conflict(
            f"A report that is {current.value} cannot become {target.value}.",
            kind="illegal-transition",
        )
    if target == IncidentStatus.rejected and not data.note:
        raise invalid("note", "a reason is required to reject a report")
    if target == IncidentStatus.forwarded and not data.police_reference:
        raise invalid("police_reference", "is required to forward a report to the police")
    changed = await session.execute(
        update(Incident)
        .where(col(Incident.id) == incident.id, col(Incident.status) == current.value)
        .values(
            status=target.value,
            updated_at=utcnow(),
            police_reference=data.police_reference or incident.police_reference,
        )
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise conflict(
            "The report was moderated by someone else meanwhile.", kind="illegal-transition"
        )
    session.add(
        StatusChange(
            incident_id=incident.id,
            from_status=current.value,
            to_status=target.value,
            actor_id=user.id,
            note=data.note,
            police_reference=data.police_reference,
        )
    )
    await session.flush()
    await session.refresh(incident)
    await outbox.emit(
        session,
        "incident.status_changed",
        {
            "incident_id": str(incident.id),
            "status": target.value,
            "reporter_id": str(incident.reporter_id) if incident.reporter_id else None,
        },
    )
    if target == IncidentStatus.verified and announce:
        groups = await groups_showing(session, incident)
        await outbox.emit(
            session,
            "incident.verified",
            {"incident_id": str(incident.id), "group_ids": sorted(str(g) for g in groups)},
        )
    return incident


async def history(
    session: AsyncSession, viewer: Viewer, incident: Incident
) -> list[StatusChangeRead]:
    if not viewer.moderator:
        raise forbidden("The moderation history is for moderators.")
    rows = list(
        (
            await session.execute(
                select(StatusChange)
                .where(col(StatusChange.incident_id) == incident.id)
                .order_by(col(StatusChange.created_at))
            )
        )
        .scalars()
        .all()
    )
    names = await display_names(session, {r.actor_id for r in rows})
    return [
        StatusChangeRead(
            from_status=IncidentStatus(r.from_status),
            to_status=IncidentStatus(r.to_status),
            actor=Reporter(id=r.actor_id, display_name=names.get(r.actor_id, ""))
            if r.actor_id
            else None,
            note=r.note,
            police_reference=r.police_reference,
            created_at=r.created_at,
        )
        for r in rows
    ]


async def add_update(
    session: AsyncSession, user: User, incident: Incident, data: UpdateCreate
) -> IncidentUpdate:
    entry = IncidentUpdate(incident_id=incident.id, author_id=user.id, text=data.text)
    session.add(entry)
    await session.flush()
    return entry


def update_read(
    entry: IncidentUpdate, incident: Incident, viewer: Viewer, names: dict[uuid.UUID, str]
) -> UpdateRead:
    author = None
    if entry.author_id is not None:
        hidden = entry.author_id == incident.reporter_id and incident.anonymous
        if viewer.reveals_reporter or not hidden:
            author = Reporter(
                id=entry.author_id if viewer.exact else None,
                display_name=names.get(entry.author_id, ""),
            )
    return UpdateRead(id=entry.id, text=entry.text, author=author, created_at=entry.created_at)


async def list_updates(
    session: AsyncSession, incident: Incident, viewer: Viewer, limit: int, cursor: str | None
) -> Page[UpdateRead]:
    stmt = newest_first(
        select(IncidentUpdate).where(col(IncidentUpdate.incident_id) == incident.id),
        col(IncidentUpdate.created_at),
        col(IncidentUpdate.id),
        cursor,
        limit,
    )
    rows = list((await session.execute(stmt)).scalars().all())
    names = await display_names(session, {r.author_id for r in rows})
    return page_of(
        rows,
        limit,
        lambda u: (u.created_at, u.id),
        lambda u: update_read(u, incident, viewer, names),
    )


def _week_sql(dialect: str) -> str:
    if dialect == "postgresql":
        return "to_char(occurred_at AT TIME ZONE 'UTC', 'IYYY-\"W\"IW')"
    # ISO week in SQLite: the week's Thursday fixes both the ISO year and the week number.
    thursday = "date(occurred_at, '-3 days', 'weekday 4')"
    return (
        f"printf('%s-W%02d', strftime('%Y', {thursday}),"
        f" (CAST(strftime('%j', {thursday}) AS INTEGER) - 1) / 7 + 1)"
    )


STATS_CHUNK = 10_000  # incident ids per statement, well below parameter limits


async def _period(
    session: AsyncSession, ids: list[uuid.UUID], start: date, end: date
) -> PeriodStats:
    """Counts by ISO week and category, aggregated by the database (per chunk of ids)."""
    dialect = session.get_bind().dialect.name
    verified = ", ".join(f"'{s.value}'" for s in COUNTED_AS_VERIFIED)
    bounds = [datetime.combine(d, time(), UTC) for d in (start, end)]
    if dialect == "sqlite":  # UTCDateTime stores naive UTC there
        bounds = [b.replace(tzinfo=None) for b in bounds]
    counts: dict[tuple[str, str], list[int]] = {}
    for first in range(0, len(ids), STATS_CHUNK):
        chunk = ids[first : first + STATS_CHUNK]
        id_params = {f"i{n}": raw_uuid(session, i) for n, i in enumerate(chunk)}
        rows = (
            await session.execute(
                text(
                    f"SELECT {_week_sql(dialect)} AS week, category,"  # noqa: S608
                    f" COUNT(*), SUM(CASE WHEN status IN ({verified}) THEN 1 ELSE 0 END)"
                    " FROM incidents WHERE occurred_at >= :start AND occurred_at < :end"
                    " AND status <> 'rejected'"
                    f" AND id IN ({', '.join(':' + k for k in id_params)})"
                    " GROUP BY week, category"
                ),
                {"start": bounds[0], "end": bounds[1], **id_params},
            )
        ).all()
        for week, category, submitted, verified_count in rows:
            total = counts.setdefault((week, category), [0, 0])
            total[0] += int(submitted)
            total[1] += int(verified_count)
    weeks = [
        WeekCount(week=week, category=Category(category), submitted=n, verified=v)
        for (week, category), (n, v) in sorted(counts.items())
    ]
    totals: dict[str, int] = {}
    for item in weeks:
        totals[item.category.value] = totals.get(item.category.value, 0) + item.submitted
    return PeriodStats(start=start, end=end, weeks=weeks, totals=totals)


async def group_stats(
    session: AsyncSession, access: GroupAccess, start: date | None, end: date | None
) -> GroupStats:
    if not (access.is_active_member or access.is_admin):
        raise forbidden("Statistics are for the group's members.")
    for name, day in (("from", start), ("to", end)):
        if day is not None and not FIRST_YEAR <= day.year <= LAST_YEAR:  # or ± days overflows
            raise invalid(name, f"must be within {YEARS}")
    end = end or (utcnow().date() + timedelta(days=1))
    start = start or (end - timedelta(days=28))
    if start >= end:
        raise invalid("from", "must be before `to`")
    if (end - start).days > 366:
        raise invalid("from", "the period may span at most a year")
    # On the point each report is shown to the caller at, as every filter is.
    area = from_geojson(access.group.area)
    ids = list(await _in_area(session, area, await exact_ids_of(session, access.user)))
    length = end - start
    with offloaded():
        return GroupStats(
            current=await _period(session, ids, start, end),
            previous=await _period(session, ids, start - length, start),
        )
