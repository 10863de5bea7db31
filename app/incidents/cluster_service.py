"""Clusters for people: similar reports before submitting, and moderating a cluster.

`similar` answers from an exact point the caller gives, so it must not become an oracle
for other reports' exact points: it reads nothing of the caller's point but its snapped
cell, and nothing of a report's but its snapped point. A report R within the radius r
of the caller's point Q has snap(R) within r + 2h of snap(Q), h being the largest
distance from a point to its cell's centre (half the cell's diagonal); so matching the
snapped points within r + 2h shows every report the new one could join (and some it
would not), and any two points of one cell get the same answer. Only reports the caller
may see are matched, as members see them: snapped, no reporter, no cluster.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import outbox
from app.auth.models import Role, User
from app.auth.names import display_names
from app.categories import Category
from app.geo.privacy import snap
from app.geo.shapes import Circle, haversine_m
from app.groups import service as groups_service
from app.incidents import service
from app.incidents.clusters import OPEN, Linking, shown_members
from app.incidents.models import ClusterMember, Incident, IncidentCluster, IncidentStatus
from app.incidents.schemas import (
    ClusterRead,
    ClusterRef,
    ClusterStatusCounts,
    ClusterSummary,
    ClusterTransitionRequest,
    ClusterTransitionResult,
    IncidentRead,
    TransitionRequest,
)
from app.pagination import Page, chunks, decode_cursor, newest_first, page_of
from app.problems import conflict, forbidden, invalid, not_found
from app.settings import Settings

# The cells' width varies a little inside a row (app.geo.privacy): a margin for it.
_CELL_MARGIN = 1.02


def match_distance_m(settings: Settings) -> float:
    """r + 2h: how far apart two snapped points may be for their reports to link."""
    return settings.corroboration_radius_m + settings.snap_cell_m * math.sqrt(2) * _CELL_MARGIN


async def similar(
    session: AsyncSession,
    settings: Settings,
    user: User,
    category: Category,
    point: tuple[float, float],
    occurred_at: datetime,
    limit: int,
    cursor: str | None,
) -> Page[IncidentRead]:
    """Open reports the caller may see that a report of theirs here could join."""
    lon, lat = snap(*point, settings.snap_cell_m)
    reach = match_distance_m(settings)
    window = timedelta(hours=settings.corroboration_window_h)
    rows: list[Incident] = []
    for west, south, east, north in Circle(lon, lat, reach).boxes():
        found = await session.execute(
            select(Incident).where(
                col(Incident.category) == category.value,
                col(Incident.status).in_(OPEN),
                col(Incident.occurred_at).between(occurred_at - window, occurred_at + window),
                col(Incident.snapped_lat).between(south, north),
                col(Incident.snapped_lon).between(west, east),
            )
        )
        rows += found.scalars().all()
    rows = [r for r in rows if haversine_m(lon, lat, r.snapped_lon, r.snapped_lat) <= reach]
    if rows and user.role != Role.admin:
        visible, _ = await service.visible_ids(session, user)
        rows = [r for r in rows if r.id in visible]
    rows = sorted({r.id: r for r in rows}.values(), key=lambda r: (r.reported_at, r.id))[::-1]
    if cursor:
        after = decode_cursor(cursor)
        rows = [r for r in rows if (r.reported_at, r.id) < after]
    return page_of(
        rows[: limit + 1],
        limit,
        lambda r: (r.reported_at, r.id),
        lambda r: service.to_read(r, False, None),
    )


async def _may_list(session: AsyncSession, user: User, group_id: uuid.UUID | None) -> None:
    """Refuses whoever moderates no report by role (there, with a group)."""
    if user.role == Role.admin or (user.role == Role.agency and user.jurisdiction):
        return
    among = None
    if group_id is not None:
        access = await groups_service.load_group(session, group_id, user)
        among = [access.group.id]
    memberships = await groups_service.active_memberships(session, user.id, among)
    if not any(service.moderates_since(g, role) for g, role in memberships):
        raise forbidden(
            "Clusters are for moderators: a verified group's coordinators, agency officers "
            "and admins."
        )


async def list_clusters(
    session: AsyncSession,
    settings: Settings,
    user: User,
    group_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[ClusterSummary]:
    """Clusters holding a report the caller moderates (inside the group's area, with
    `group_id`), newest first."""
    await _may_list(session, user, group_id)
    group = None
    if group_id is not None:
        group = (await groups_service.load_group(session, group_id, user)).group
    ids = await service.moderated_ids(session, user, group)
    stmt = select(IncidentCluster)
    page = newest_first(
        stmt, col(IncidentCluster.created_at), col(IncidentCluster.id), cursor, limit
    )
    if ids is None:
        clusters = list((await session.execute(page)).scalars().all())
    else:
        wanted: set[uuid.UUID] = set()
        for chunk in chunks(sorted(ids)):
            found = await session.execute(
                select(col(ClusterMember.cluster_id)).where(
                    col(ClusterMember.incident_id).in_(chunk)
                )
            )
            wanted.update(found.scalars())
        clusters = []
        for chunk in chunks(sorted(wanted)):
            result = await session.execute(page.where(col(IncidentCluster.id).in_(chunk)))
            clusters += result.scalars().all()
        clusters.sort(key=lambda c: (c.created_at, c.id), reverse=True)
        clusters = clusters[: limit + 1]
    summaries = await _summaries(session, clusters, ids, Linking.of(settings))
    return page_of(
        [c for c in clusters if c.id in summaries],
        limit,
        lambda c: (c.created_at, c.id),
        lambda c: summaries[c.id],
    )


async def _summaries(
    session: AsyncSession,
    clusters: list[IncidentCluster],
    among: set[uuid.UUID] | None,
    linking: Linking,
) -> dict[uuid.UUID, ClusterSummary]:
    """Sizes, statuses and times of the clusters as a caller moderating the reports
    `among` (None: all, for admins) is shown them (`clusters.shown_members`): a report
    they do not moderate counts in nothing they are shown."""
    if among is not None:
        shown = await shown_members(session, [c.id for c in clusters], among, linking)
        among = set().union(*shown.values())
    stats: dict[uuid.UUID, dict[str, int]] = {}
    times: dict[uuid.UUID, list[datetime]] = {}
    for chunk in chunks([c.id for c in clusters]):
        rows = await session.execute(
            select(
                col(ClusterMember.cluster_id),
                col(ClusterMember.incident_id),
                col(Incident.status),
                col(Incident.occurred_at),
            )
            .join(Incident, col(Incident.id) == col(ClusterMember.incident_id))
            .where(col(ClusterMember.cluster_id).in_(chunk))
        )
        for cluster_id, incident_id, status, occurred_at in rows.all():
            if among is not None and incident_id not in among:
                continue
            counts = stats.setdefault(cluster_id, {})
            counts[status] = counts.get(status, 0) + 1
            span = times.setdefault(cluster_id, [occurred_at, occurred_at])
            span[0], span[1] = min(span[0], occurred_at), max(span[1], occurred_at)
    return {
        c.id: ClusterSummary(
            id=c.id,
            category=Category(c.category),
            size=sum(stats[c.id].values()),
            statuses=ClusterStatusCounts(**stats[c.id]),
            first_occurred_at=times[c.id][0],
            last_occurred_at=times[c.id][1],
            created_at=c.created_at,
            updated_at=c.updated_at,
        )
        for c in clusters
        if sum(stats.get(c.id, {}).values()) >= 2
    }


async def _members(
    session: AsyncSession, linking: Linking, user: User, cluster_id: uuid.UUID
) -> tuple[IncidentCluster, ClusterSummary, list[tuple[Incident, service.Viewer]]]:
    """The cluster, and its members the caller moderates with how they see them (oldest
    first); 404 unless the caller sees one of them, 403 unless they moderate one, 404
    unless they moderate two (for them it is no cluster). A member they only see, or do
    not see, is left out: its place in a cluster would locate it to within the radius."""
    cluster = await session.get(IncidentCluster, cluster_id)
    if cluster is None:
        raise not_found("incident cluster")
    rows = await session.execute(
        select(Incident)
        .join(ClusterMember, col(ClusterMember.incident_id) == col(Incident.id))
        .where(col(ClusterMember.cluster_id) == cluster_id)
        .order_by(col(Incident.reported_at), col(Incident.id))
    )
    seen = []
    for incident in rows.scalars().all():
        viewer = await service.viewer_of(session, user, incident)
        if viewer.can_see:
            seen.append((incident, viewer))
    if not seen:
        raise not_found("incident cluster")
    moderated = [(i, v) for i, v in seen if v.moderator]
    if not moderated:
        raise forbidden("Only moderators see and moderate a cluster.")
    among = None if user.role == Role.admin else {i.id for i, _ in moderated}
    summaries = await _summaries(session, [cluster], among, linking)
    if cluster_id not in summaries:
        raise not_found("incident cluster")
    return cluster, summaries[cluster_id], moderated


async def _read(
    session: AsyncSession, summary: ClusterSummary, seen: list[tuple[Incident, service.Viewer]]
) -> ClusterRead:
    ref = ClusterRef(id=summary.id, size=summary.size)
    names = await display_names(session, {i.reporter_id for i, _ in seen})
    members = [
        service.to_read(
            incident,
            viewer.exact,
            names.get(incident.reporter_id) if incident.reporter_id else None,
            reveal=viewer.reveals_reporter,
            cluster=ref,
        )
        for incident, viewer in seen
    ]
    return ClusterRead(**summary.model_dump(), members=members)


async def read_cluster(
    session: AsyncSession, settings: Settings, user: User, cluster_id: uuid.UUID
) -> ClusterRead:
    _, summary, seen = await _members(session, Linking.of(settings), user, cluster_id)
    return await _read(session, summary, seen)


async def transition_cluster(
    session: AsyncSession,
    settings: Settings,
    user: User,
    cluster_id: uuid.UUID,
    data: ClusterTransitionRequest,
) -> ClusterTransitionResult:
    """Verify or reject every submitted member the caller moderates, in one transaction.
    Each reporter is told of their own report (`incident.status_changed`); the
    neighbourhood hears once: one `incident.verified` for the cluster."""
    linking = Linking.of(settings)
    cluster, _, seen = await _members(session, linking, user, cluster_id)
    target = IncidentStatus(data.status)
    if target == IncidentStatus.rejected and not data.note:
        raise invalid("note", "a reason is required to reject a report")
    movable = [
        (i, v) for i, v in seen if v.moderator and i.status == IncidentStatus.submitted.value
    ]
    if not movable:
        raise conflict(
            f"No report of this cluster that you moderate is submitted; none can become "
            f"{target.value}.",
            kind="illegal-transition",
        )
    request = TransitionRequest(status=target, note=data.note)
    changed: list[Incident] = []
    for incident, viewer in movable:
        changed.append(
            await service.transition(session, user, incident, viewer, request, announce=False)
        )
    if target == IncidentStatus.verified:
        groups: set[uuid.UUID] = set()
        for incident in changed:
            groups.update(await service.groups_showing(session, incident))
        await outbox.emit(
            session,
            "incident.verified",
            {
                "incident_id": str(changed[0].id),
                "cluster_id": str(cluster.id),
                "incident_ids": [str(i.id) for i in changed],
                "group_ids": sorted(str(g) for g in groups),
            },
        )
    _, summary, seen = await _members(session, linking, user, cluster_id)
    moved = {i.id for i in changed}
    read = await _read(session, summary, seen)
    return ClusterTransitionResult(
        **read.model_dump(),
        changed=[i.id for i, _ in seen if i.id in moved],
        skipped=[i.id for i, _ in seen if i.id not in moved],
    )
