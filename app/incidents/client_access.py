"""What an API client reads (`incidents:read`) and files (`incidents:write`) of reports.

Reads: the reports inside the client's jurisdiction. A client an agency officer made
(and still holds: its creator is an officer now) sees them as that officer does, the
exact point and who filed, for the reports inside both its own jurisdiction and the
officer's current one. Every other client sees what a member sees at most: the snapped
point, matched on that point, and no reporter at all, not even a named one (a third
party has no use for residents' names). A client without a jurisdiction (an admin's)
sees every report so, as the public sees them through Open311. `group_id` narrows to a
public group's area, or the client's own group's.

Writes: a report on behalf of a resident who is no user, so it has no reporter; its
point must lie inside the client's jurisdiction (403 otherwise, as for an officer's
alert). It goes through the same intake as a user's: the same validation, the same
Idempotency-Key rules (the key is the client's), limited per client.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiClient, Role, User
from app.auth.names import display_names
from app.geo.shapes import Circle, from_geojson, intersects
from app.groups.models import Group, Visibility
from app.incidents.models import Incident
from app.incidents.schemas import IncidentCreate, IncidentRead
from app.incidents.service import (
    IncidentFilters,
    _ids_in,
    _in_area,
    _snapped_ids_in,
    filtered_rows,
    to_read,
)
from app.pagination import Page, page_of
from app.problems import forbidden, not_found


@dataclass(frozen=True)
class ClientReach:
    ids: set[uuid.UUID] | None  # what it may list (None: every report)
    exact: set[uuid.UUID]  # what it sees as its agency officer does


async def _officer_of(session: AsyncSession, client: ApiClient) -> User | None:
    """The agency officer whose client this is, while they are one."""
    if client.created_by is None or client.jurisdiction is None:
        return None
    creator = await session.get(User, client.created_by)
    if creator is None or creator.role != Role.agency or not creator.jurisdiction:
        return None
    return creator


async def _reach(session: AsyncSession, client: ApiClient) -> ClientReach:
    if client.jurisdiction is None:
        return ClientReach(None, set())
    area = from_geojson(client.jurisdiction)
    exact: set[uuid.UUID] = set()
    officer = await _officer_of(session, client)
    if officer is not None and officer.jurisdiction:
        exact = await _ids_in(session, [area]) & await _ids_in(
            session, [from_geojson(officer.jurisdiction)]
        )
    return ClientReach(await _snapped_ids_in(session, area) | exact, exact)


def _read(incident: Incident, exact: bool, names: dict[uuid.UUID, str]) -> IncidentRead:
    name = names.get(incident.reporter_id) if exact and incident.reporter_id else None
    return to_read(incident, exact, name, reveal=exact)


async def list_incidents_for_client(
    session: AsyncSession,
    client: ApiClient,
    filters: IncidentFilters,
    limit: int,
    cursor: str | None,
) -> Page[IncidentRead]:
    reach = await _reach(session, client)
    ids = reach.ids
    if filters.group_id is not None:
        group = await session.get(Group, filters.group_id)
        if (
            group is None
            or group.archived_at is not None
            or not (group.visibility == Visibility.public.value or group.id == client.group_id)
        ):
            raise not_found("group")
        in_group = await _in_area(session, from_geojson(group.area), reach.exact)
        ids = in_group if ids is None else ids & in_group
    rows = await filtered_rows(session, filters, ids, limit, cursor)
    names = await display_names(session, {r.reporter_id for r in rows if r.id in reach.exact})
    return page_of(
        rows, limit, lambda i: (i.reported_at, i.id), lambda i: _read(i, i.id in reach.exact, names)
    )


async def read_incident_for_client(
    session: AsyncSession, client: ApiClient, incident_id: uuid.UUID
) -> IncidentRead:
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise not_found("incident")
    exact = False
    if client.jurisdiction is not None:
        area = from_geojson(client.jurisdiction)
        officer = await _officer_of(session, client)
        point = Circle(incident.lon, incident.lat)
        exact = bool(
            officer is not None
            and officer.jurisdiction
            and intersects(area, point)
            and intersects(from_geojson(officer.jurisdiction), point)
        )
        if not exact and not intersects(area, Circle(incident.snapped_lon, incident.snapped_lat)):
            raise not_found("incident")
    names = await display_names(session, {incident.reporter_id}) if exact else {}
    return _read(incident, exact, names)


def check_client_may_report(client: ApiClient, data: IncidentCreate) -> None:
    if client.jurisdiction is None:
        return
    lon, lat = data.location.coordinates
    if not intersects(from_geojson(client.jurisdiction), Circle(lon, lat)):
        raise forbidden("The report's location lies outside the API client's jurisdiction.")
