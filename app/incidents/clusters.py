"""Corroboration: reports of one category close in place and time form a cluster.

Two reports are *linked* when their categories are equal, their exact points lie within
NW_CORROBORATION_RADIUS_M of each other (on the sphere, through the geo index) and their
`occurred_at` within NW_CORROBORATION_WINDOW_H, both bounds inclusive; a report links
only to reports still open (submitted, verified or forwarded) when it arrives. A cluster
is a connected set of linked reports, so a chain (A near B, B near C) is one cluster even
where A is far from C. It is computed once, when a report is submitted, in the
submission's transaction:

- a report linked to nothing stays alone: no cluster (`cluster: null`);
- linked only to lone reports, it starts a cluster with them;
- linked to reports of several clusters, it merges them into the oldest (by
  `created_at`, then id), which keeps its id; the others are deleted.

Concurrency. Two transactions whose reports link must not each miss the other's
uncommitted report, nor merge a cluster the other is joining:
- SQLite takes the write lock at BEGIN (app.db): submissions are serial already.
- PostgreSQL: each report takes a transaction-scoped advisory lock on (category, cell)
  for every cell of a 0.01° grid that the box of its radius touches, all of a batch's
  at once in ascending order (so two batches never wait on each other in a cycle). A
  report B within the radius of A lies in A's box, so both lock B's own cell: the
  later one waits until the first commits, and its queries (READ COMMITTED: a snapshot
  per statement) then see it. A chain can reach clusters far away, beyond any common
  cell: the clusters a report joins or merges are locked (FOR UPDATE, ascending id) and
  their membership read again until it is stable, so a cluster merged away meanwhile
  is followed to the one that absorbed it.

Work. A batch's reports are looked up in one statement: the geo index's candidates for
each distinct spot joined with the incidents table, narrowed there by category, status
and time, at most NW_CORROBORATION_MAX_CANDIDATES a spot, so that a flood of reports at
one spot (bench/incidents.py sends them all to one point) costs bounded work per report
instead of growing with the flood. Beyond that bound a report still joins a cluster if
it links to anything, but a merge that only the uncounted reports would make is missed.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import (
    Float,
    Integer,
    Uuid,
    bindparam,
    column,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import UTCDateTime, utcnow
from app.geo.index import index_for
from app.geo.shapes import Circle, haversine_m
from app.incidents.models import ClusterMember, Incident, IncidentCluster, IncidentStatus
from app.incidents.schemas import ClusterRef
from app.incidents.service import GEO_COLLECTION
from app.pagination import chunks
from app.settings import Settings

# What a new report may join: a moderator's "no" (or "done") closes a report to new links.
OPEN = (
    IncidentStatus.submitted.value,
    IncidentStatus.verified.value,
    IncidentStatus.forwarded.value,
)
LOCK_CELL_DEG = 0.01  # ~1.1 km north-south: a 150 m box touches 1 to 4 cells
_MEMBERS = ClusterMember.__table__
_CLUSTERS = IncidentCluster.__table__


@dataclass(frozen=True)
class NewReport:
    id: uuid.UUID
    category: str
    occurred_at: datetime
    lon: float
    lat: float


def new_report(values: dict[str, Any]) -> NewReport:
    """From a report's column values, as the intake writes them."""
    return NewReport(
        values["id"], values["category"], values["occurred_at"], values["lon"], values["lat"]
    )


def lock_keys(reports: Iterable[NewReport], radius_m: float) -> list[int]:
    """The advisory lock keys of these reports (see the module's docstring), ascending."""
    keys: set[int] = set()
    for r in reports:
        for west, south, east, north in Circle(r.lon, r.lat, radius_m).boxes():
            for row in range(
                math.floor(south / LOCK_CELL_DEG), math.floor(north / LOCK_CELL_DEG) + 1
            ):
                for col_ in range(
                    math.floor(west / LOCK_CELL_DEG), math.floor(east / LOCK_CELL_DEG) + 1
                ):
                    digest = hashlib.blake2b(
                        f"cluster:{r.category}:{row}:{col_}".encode(), digest_size=8
                    ).digest()
                    keys.add(int.from_bytes(digest, "big", signed=True))
    return sorted(keys)


async def _lock_cells(session: AsyncSession, reports: Sequence[NewReport], radius_m: float) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: the transaction holds the database's write lock already
    # unnest keeps the array's order: the locks are taken in ascending order.
    await session.execute(
        text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:keys AS bigint[])) AS k"),
        {"keys": lock_keys(reports, radius_m)},
    )


async def _memberships(
    session: AsyncSession, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    found: dict[uuid.UUID, uuid.UUID] = {}
    for chunk in chunks(sorted(ids)):
        rows = await session.execute(
            select(_MEMBERS.c.incident_id, _MEMBERS.c.cluster_id).where(
                _MEMBERS.c.incident_id.in_(chunk)
            )
        )
        found.update(dict(rows.all()))
    return found


async def _locked_memberships(
    session: AsyncSession, ids: set[uuid.UUID]
) -> tuple[dict[uuid.UUID, uuid.UUID], dict[uuid.UUID, datetime]]:
    """The clusters of these reports, locked, and their creation times: read again
    after each lock until no cluster among them was merged away while we waited."""
    locked: dict[uuid.UUID, datetime] = {}
    while True:
        members = await _memberships(session, ids)
        wanted = set(members.values())
        if wanted <= set(locked):
            return members, locked
        for chunk in chunks(sorted(wanted - set(locked))):
            rows = await session.execute(
                select(_CLUSTERS.c.id, _CLUSTERS.c.created_at)
                .where(_CLUSTERS.c.id.in_(chunk))
                .order_by(_CLUSTERS.c.id)
                .with_for_update()
            )
            locked.update(dict(rows.all()))


def _linked_in_batch(
    reports: Sequence[NewReport], radius: float, window: timedelta
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Links among the batch's own reports (which the candidates' LIMIT must not crowd out)."""
    lon = np.fromiter((r.lon for r in reports), float, len(reports))
    lat = np.fromiter((r.lat for r in reports), float, len(reports))
    out: dict[uuid.UUID, list[uuid.UUID]] = {}
    for n, r in enumerate(reports):
        close = haversine_m(r.lon, r.lat, lon, lat) <= radius
        out[r.id] = [
            o.id
            for o in (reports[i] for i in np.flatnonzero(close).tolist() if i != n)
            if o.category == r.category and abs(o.occurred_at - r.occurred_at) <= window
        ]
    return out


def _renamed(clause: str, params: dict[str, Any], suffix: str) -> tuple[str, dict[str, Any]]:
    """The clause with its parameters renamed, so that several go into one statement."""
    for key in sorted(params, key=len, reverse=True):
        clause = re.sub(rf":{key}\b", f":{key}_{suffix}", clause)
    return clause, {f"{key}_{suffix}": value for key, value in params.items()}


async def _links(
    session: AsyncSession,
    reports: Sequence[NewReport],
    radius: float,
    window: timedelta,
    limit: int,
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Each new report's links: the open reports of its category within the radius and
    window. The geo index narrows by place and the incidents table by category, status
    and time, in the database, at most `limit` candidates a spot (a bound on the work a
    flood of reports at one spot can cause); the exact tests follow here."""
    links = _linked_in_batch(reports, radius, window)
    new = set(links)
    index = index_for(session)
    spots: dict[tuple[str, float, float], list[NewReport]] = {}
    for r in reports:
        spots.setdefault((r.category, r.lon, r.lat), []).append(r)
    items = list(spots.items())
    for first in range(0, len(items), 100):  # below SQLite's 500 terms of a compound SELECT
        parts: list[str] = []
        params: dict[str, Any] = {"c": GEO_COLLECTION, "k": limit}
        times = []
        for n, ((category, lon, lat), here) in enumerate(items[first : first + 100]):
            source, condition, box = index.candidate_clause(Circle(lon, lat, radius).boxes())
            source, _ = _renamed(source, box, str(n))
            condition, box = _renamed(condition, box, str(n))
            params.update(box)
            params[f"cat_{n}"] = category
            params[f"lo_{n}"] = min(r.occurred_at for r in here) - window
            params[f"hi_{n}"] = max(r.occurred_at for r in here) + window
            times += [
                bindparam(f"lo_{n}", type_=UTCDateTime()),
                bindparam(f"hi_{n}", type_=UTCDateTime()),
            ]
            parts.append(
                f"SELECT * FROM (SELECT {n} AS spot, i.id AS id, e.lon AS lon, e.lat AS lat,"  # noqa: S608
                f" i.occurred_at AS occurred_at FROM {source}"
                " JOIN incidents i ON i.id = e.object_id"
                f" WHERE e.collection = :c AND {condition} AND i.category = :cat_{n}"
                f" AND i.status IN ({', '.join(repr(s) for s in OPEN)})"
                f" AND i.occurred_at BETWEEN :lo_{n} AND :hi_{n} LIMIT :k) AS s{n}"
            )
        statement = (
            text(" UNION ALL ".join(parts))
            .bindparams(*times)
            .columns(
                column("spot", Integer()),
                column("id", Uuid()),
                column("lon", Float()),
                column("lat", Float()),
                column("occurred_at", UTCDateTime()),
            )
        )
        found: dict[int, list[Any]] = {}
        for row in (await session.execute(statement, params)).all():
            if row[1] not in new:
                found.setdefault(row[0], []).append(row)
        for n, (_, here) in enumerate(items[first : first + 100]):
            rows = found.get(n, [])
            if not rows:
                continue
            lons = np.fromiter((row[2] for row in rows), float, len(rows))
            lats = np.fromiter((row[3] for row in rows), float, len(rows))
            close = haversine_m(here[0].lon, here[0].lat, lons, lats) <= radius
            near = [rows[i] for i in np.flatnonzero(close).tolist()]
            for r in here:
                links[r.id] += [row[1] for row in near if abs(row[4] - r.occurred_at) <= window]
    return links


async def assign(session: AsyncSession, settings: Settings, reports: Sequence[NewReport]) -> None:
    """Put newly written reports (rows and index entries in this transaction) into
    clusters, in their order; see the module's docstring."""
    if not reports:
        return
    radius = settings.corroboration_radius_m
    window = timedelta(hours=settings.corroboration_window_h)
    await _lock_cells(session, reports, radius)
    links = await _links(session, reports, radius, window, settings.corroboration_max_candidates)
    if not any(links.values()):
        return
    members, created = await _locked_memberships(
        session, {i for found in links.values() for i in found}
    )
    merged: dict[uuid.UUID, uuid.UUID] = {}  # a cluster merged away → the one it went into

    def resolve(cluster_id: uuid.UUID) -> uuid.UUID:
        while cluster_id in merged:
            cluster_id = merged[cluster_id]
        return cluster_id

    now = utcnow()
    started: list[dict[str, Any]] = []
    joined: dict[uuid.UUID, uuid.UUID] = {}  # new memberships: report → cluster
    for r in reports:
        if not links[r.id]:
            continue
        clusters = {resolve(members[i]) for i in [*links[r.id], r.id] if i in members}
        if clusters:
            target = min(clusters, key=lambda c: (created[c], c))
            for loser in clusters - {target}:
                merged[loser] = target
        else:
            target = uuid.uuid4()
            created[target] = now
            started.append(
                {"id": target, "category": r.category, "created_at": now, "updated_at": now}
            )
        for i in [r.id, *links[r.id]]:
            if i not in members:
                members[i] = target
                joined[i] = target
    await _write(session, started, joined, {k: resolve(k) for k in merged}, resolve, now)


async def _write(
    session: AsyncSession,
    started: list[dict[str, Any]],
    joined: dict[uuid.UUID, uuid.UUID],
    merged: dict[uuid.UUID, uuid.UUID],
    resolve: Callable[[uuid.UUID], uuid.UUID],
    now: datetime,
) -> None:
    """Write what `assign` decided: `merged` maps each cluster merged away to the one
    that absorbed it."""
    if started:
        await session.execute(insert(_CLUSTERS), started)
    for loser, winner in merged.items():
        await session.execute(
            update(_MEMBERS).where(_MEMBERS.c.cluster_id == loser).values(cluster_id=winner)
        )
    gone = set(merged)
    rows = [{"incident_id": i, "cluster_id": resolve(c)} for i, c in joined.items()]
    if rows:
        await session.execute(insert(_MEMBERS), rows)
    if gone:
        await session.execute(delete(_CLUSTERS).where(_CLUSTERS.c.id.in_(sorted(gone))))
    touched = {resolve(c) for c in joined.values()} | set(merged.values())
    if touched:
        await session.execute(
            update(_CLUSTERS).where(_CLUSTERS.c.id.in_(sorted(touched))).values(updated_at=now)
        )


@dataclass(frozen=True)
class Linking:
    """When two reports link (see the module's docstring)."""

    radius_m: float
    window: timedelta

    @classmethod
    def of(cls, settings: Settings) -> Linking:
        return cls(
            settings.corroboration_radius_m, timedelta(hours=settings.corroboration_window_h)
        )


async def shown_members(
    session: AsyncSession,
    cluster_ids: Iterable[uuid.UUID],
    among: set[uuid.UUID],
    linking: Linking,
) -> dict[uuid.UUID, set[uuid.UUID]]:
    """The members of these clusters that a caller moderating the reports `among` is
    shown: those in `among`, for the clusters where two or more are and they link among
    themselves. A member outside `among` must show in nothing: neither in a count (a
    moderator filing reports here and there would place it within the radius) nor by
    chaining two of the caller's reports that do not link (placing it where both
    radii meet); such a cluster is not shown at all."""
    found: dict[uuid.UUID, list[Any]] = {}
    for chunk in chunks(sorted(cluster_ids)):
        rows = await session.execute(
            select(
                _MEMBERS.c.cluster_id,
                _MEMBERS.c.incident_id,
                Incident.__table__.c.lon,
                Incident.__table__.c.lat,
                Incident.__table__.c.occurred_at,
            )
            .join(Incident.__table__, Incident.__table__.c.id == _MEMBERS.c.incident_id)
            .where(_MEMBERS.c.cluster_id.in_(chunk))
        )
        for row in rows.all():
            if row[1] in among:
                found.setdefault(row[0], []).append(row)
    shown: dict[uuid.UUID, set[uuid.UUID]] = {}
    for cluster_id, counted in found.items():
        if len(counted) >= 2 and _linked(counted, linking):
            shown[cluster_id] = {row[1] for row in counted}
    return shown


def _linked(rows: Sequence[Any], linking: Linking) -> bool:
    """Whether (_, id, lon, lat, occurred_at) rows form one connected set of links."""
    reached, frontier = {0}, [0]
    while frontier:
        here = rows[frontier.pop()]
        for n, other in enumerate(rows):
            if (
                n not in reached
                and abs(other[4] - here[4]) <= linking.window
                and haversine_m(here[2], here[3], other[2], other[3]) <= linking.radius_m
            ):
                reached.add(n)
                frontier.append(n)
    return len(reached) == len(rows)


async def cluster_refs(
    session: AsyncSession,
    incident_ids: Sequence[uuid.UUID],
    among: set[uuid.UUID] | None = None,
    linking: Linking | None = None,
) -> dict[uuid.UUID, ClusterRef]:
    """`cluster: {id, size}` of each of these reports that belongs to one: as a caller
    moderating the reports `among` is shown it (`shown_members`; None: all, for admins)."""
    if not incident_ids:
        return {}
    members = await _memberships(session, incident_ids)
    if among is None:
        sizes = await cluster_sizes(session, set(members.values()))
    else:
        assert linking is not None
        shown = await shown_members(session, set(members.values()), among, linking)
        sizes = {c: len(ids) for c, ids in shown.items()}
    return {i: ClusterRef(id=c, size=sizes[c]) for i, c in members.items() if sizes.get(c, 0) >= 2}


async def cluster_sizes(
    session: AsyncSession, cluster_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, int]:
    sizes: dict[uuid.UUID, int] = {}
    for chunk in chunks(sorted(cluster_ids)):
        rows = await session.execute(
            select(_MEMBERS.c.cluster_id, func.count())
            .where(_MEMBERS.c.cluster_id.in_(chunk))
            .group_by(_MEMBERS.c.cluster_id)
        )
        sizes.update({c: int(n) for c, n in rows.all()})
    return sizes
