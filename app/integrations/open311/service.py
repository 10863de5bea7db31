"""Open311 rules: who may file (an API client's secret with incidents:write), what a
filed request becomes (a report through the incidents intake, with no reporter), and
which reports anyone may read, and how.

Which reports `GET /requests` shows: those whose snapped point lies in the area of a
public group that anyone may join (open join policy, not archived). Anyone could join such
a group and be shown exactly these reports, as members are: at the snapped point, with no
reporter. A report only in private groups, or only in groups one must be let into, or in
no group, is never shown. No contact detail and no reporter is in any answer, whoever
asks: contact details are for agency officers and admins, on `/v1/incidents/{id}/contact`.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.clients import client_by_secret
from app.auth.models import ApiClient, Role, User
from app.auth.scopes import Scope
from app.categories import LABELS, Category
from app.db import utcnow
from app.geo.shapes import from_geojson
from app.groups.models import Group, JoinPolicy, Visibility
from app.incidents import service as incidents_service
from app.incidents.intake import Attached, ReportIntake
from app.incidents.models import Incident, IncidentStatus
from app.incidents.schemas import IncidentCreate
from app.integrations.open311.catalogue import CHANGESET, OCCURRED_AT, SPECIFICATION, category_of
from app.integrations.open311.forms import ContactFields, RequestQuery, SubmitForm, parse_w3c
from app.integrations.open311.models import Open311Contact
from app.integrations.open311.schemas import (
    ContactErasure,
    ContactRead,
    Discovery,
    Endpoint,
    RequestCreated,
    ServiceRequest,
)
from app.pagination import chunks
from app.problems import Problem, forbidden, too_many_requests
from app.ratelimit import Rate, RateLimiter
from app.settings import Settings

MAX_RESULTS = 1000
MINUTE = 60
OPEN = (IncidentStatus.submitted, IncidentStatus.verified, IncidentStatus.forwarded)
# What the public is told of each state: never the moderator's note, the police
# reference nor who moderated (those are for moderators, in /v1/incidents/{id}/history).
STATUS_NOTES = {
    IncidentStatus.submitted: "Submitted; not yet reviewed by a moderator.",
    IncidentStatus.verified: "Verified by a moderator.",
    IncidentStatus.forwarded: "Forwarded to the police.",
    IncidentStatus.resolved: "Resolved.",
    IncidentStatus.rejected: "Rejected by a moderator.",
}
NOTICE = (
    "Thank you. The report is shown to the neighbourhood at a point rounded to a grid; "
    "moderators review it before anyone acts."
)
_CONTACT_TABLE = Open311Contact.__table__


def discovery(settings: Settings) -> Discovery:
    url = settings.public_base_url.rstrip("/") + "/open311/v2"
    return Discovery(
        changeset=CHANGESET,
        contact="The service's admins, or the agency officers of your area.",
        key_service="An api_key is the secret of an API client holding the incidents:write "
        "scope, made by an admin or agency officer (POST /v1/admin/clients).",
        endpoints=[
            Endpoint(
                specification=SPECIFICATION,
                url=url,
                changeset=CHANGESET,
                type="production",
                formats=["text/xml", "application/json"],
            )
        ],
    )


def check_jurisdiction(settings: Settings, jurisdiction_id: str | None) -> None:
    if jurisdiction_id is None:
        if settings.open311_jurisdiction_required:
            raise Problem(400, "jurisdiction_id: required")
        return
    if jurisdiction_id != settings.open311_jurisdiction:
        raise Problem(404, f"jurisdiction_id: no such jurisdiction: {jurisdiction_id[:64]}")


@dataclass(frozen=True)
class Gate:
    """What guards the api_key: the limiter and the settings of its limits."""

    limiter: RateLimiter
    settings: Settings

    def _failures(self, address: str) -> tuple[Rate, str]:
        # The sign-in failure counter per address: a guesser gains nothing by switching
        # between sign-in, the token endpoint and this key.
        s = self.settings
        return Rate(s.login_failures_per_address, s.login_failure_window_s), (
            f"login:address:{address}"
        )

    async def client_of(
        self, session: AsyncSession, api_key: str | None, address: str
    ) -> ApiClient:
        """The client whose secret `api_key` is, holding incidents:write; 403 otherwise."""
        rate, key = self._failures(address)
        wait = await self.limiter.retry_after(rate, key)
        if wait:
            raise too_many_requests(wait, f"Too many wrong api_keys; try again in {wait} s.")
        if api_key is None:
            raise Problem(403, "api_key: required: an API client's secret")
        client = await client_by_secret(session, api_key, utcnow())
        if client is None:
            await self.limiter.hit(rate, key)
            raise Problem(403, "api_key: invalid, or its client is revoked")
        limit = Rate(self.settings.client_requests_per_minute, MINUTE)
        await self.limiter.take(
            limit,
            f"client:{client.id}",
            f"At most {limit.amount} requests a minute per API client.",
        )
        if Scope.incidents_write.value not in client.scopes:
            raise Problem(403, "api_key: the client does not hold the incidents:write scope")
        return client


def _report(form: SubmitForm, attributes: dict[str, str]) -> IncidentCreate:
    for code in attributes:
        if code != OCCURRED_AT:
            raise Problem(400, f"attribute[{code[:64]}]: no such attribute")
    if form.service_code is None:
        raise Problem(400, "service_code: required")
    category = category_of(form.service_code, status=400)
    if form.lat is None and form.long is None:
        if form.address_string is not None or form.address_id is not None:
            raise Problem(
                400,
                "lat, long: required: a location is taken as lat and long only (we cannot "
                "geocode address_string or address_id)",
            )
        raise Problem(400, "lat, long: required")
    coordinates = []
    for name, value in (("long", form.long), ("lat", form.lat)):
        if value is None:
            raise Problem(400, f"{name}: required with {'lat' if name == 'long' else 'long'}")
        try:
            number = float(value)
        except ValueError:
            raise Problem(400, f"{name}: not a number") from None
        if not math.isfinite(number):
            raise Problem(400, f"{name}: not a number")
        coordinates.append(number)
    if form.description is None:
        raise Problem(400, "description: required")
    occurred = attributes.get(OCCURRED_AT)
    occurred_at = parse_w3c(f"attribute[{OCCURRED_AT}]", occurred) if occurred else utcnow()
    try:
        return IncidentCreate(
            category=category,
            description=form.description,
            occurred_at=occurred_at,
            location={"type": "Point", "coordinates": coordinates},
            anonymous=True,
        )
    except ValidationError as exc:
        raise Problem(400, _first_error(exc)) from None


_FIELD_NAMES = {"location.coordinates.0": "long", "location.coordinates.1": "lat"}


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    where = _FIELD_NAMES.get(where, where).replace("occurred_at", f"attribute[{OCCURRED_AT}]")
    return f"{where}: {error['msg']}"


def _contact_row(contact: ContactFields, client_id: uuid.UUID, incident_id: uuid.UUID) -> Attached:
    values = contact.model_dump(exclude_none=True)
    if not values:
        return []
    if "email" in values:
        values["email"] = values["email"].lower()  # erasure finds it however it is spelt
    row = {"incident_id": incident_id, "client_id": client_id, "created_at": utcnow(), **values}
    return [(_CONTACT_TABLE, row)]


async def submit(
    intake: ReportIntake,
    client: ApiClient,
    form: SubmitForm,
    attributes: dict[str, str],
    key: str | None,
    address: str,
) -> RequestCreated:
    """File the request as a report: the intake's validation, limits and idempotency."""
    data = _report(form, attributes)
    try:
        contact = ContactFields.model_validate(form.contact_values())
    except ValidationError as exc:
        raise Problem(400, _first_error(exc)) from None
    body: dict[str, Any] = {**form.model_dump(exclude={"api_key"}), "attributes": attributes}
    try:
        answer = await intake.submit_for_client(
            client.id,
            data,
            key,
            body,
            address,
            lambda incident_id: _contact_row(contact, client.id, incident_id),
        )
    except Problem as problem:
        # The intake names our field; the client sent the service's attribute.
        detail = str(problem).replace("occurred_at:", f"attribute[{OCCURRED_AT}]:", 1)
        raise Problem(problem.status, detail, headers=problem.headers) from None
    return RequestCreated(
        service_request_id=str(answer["id"]), service_notice=NOTICE, account_id=None
    )


def _w3c(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def to_request(incident: Incident) -> ServiceRequest:
    """A report as anyone sees it here: snapped, no reporter, no contact, no media."""
    status = IncidentStatus(incident.status)
    requested = _w3c(incident.reported_at)
    assert requested is not None
    return ServiceRequest(
        service_request_id=str(incident.id),
        status="open" if status in OPEN else "closed",
        status_notes=STATUS_NOTES[status],
        service_name=LABELS[Category(incident.category)],
        service_code=incident.category,
        description=incident.description,
        agency_responsible=None,
        service_notice=None,
        requested_datetime=requested,
        updated_datetime=_w3c(incident.updated_at),
        expected_datetime=None,
        address=None,
        address_id=None,
        zipcode=None,
        lat=incident.snapped_lat,
        long=incident.snapped_lon,
        media_url=None,
    )


def _open_to_all() -> list[ColumnElement[bool]]:
    """Groups anyone may join, and so be shown their reports."""
    return [
        col(Group.visibility) == Visibility.public.value,
        col(Group.join_policy) == JoinPolicy.open.value,
        col(Group.archived_at).is_(None),
    ]


async def _public_ids(session: AsyncSession) -> set[uuid.UUID]:
    """The reports anyone may be shown: see the module's docstring."""
    rows = await session.execute(select(col(Group.area)).where(*_open_to_all()))
    return await incidents_service.shown_in(session, [from_geojson(a) for a in rows.scalars()])


async def _shown_publicly(session: AsyncSession, incident: Incident) -> bool:
    showing = await incidents_service.groups_showing(session, incident)
    if not showing:
        return False
    found = await session.execute(
        select(col(Group.id)).where(col(Group.id).in_(showing), *_open_to_all()).limit(1)
    )
    return found.first() is not None


async def list_requests(session: AsyncSession, query: RequestQuery) -> list[ServiceRequest]:
    public = await _public_ids(session)
    if query.ids is not None:
        wanted = sorted(public & set(query.ids))
        rows = await _incidents(session, wanted, None)
    else:
        rows = await _incidents(session, sorted(public), query)
    return [to_request(r) for r in rows]


async def _incidents(
    session: AsyncSession, ids: Sequence[uuid.UUID], query: RequestQuery | None
) -> list[Incident]:
    """These reports (filtered by `query`), newest first, at most MAX_RESULTS."""
    stmt = select(Incident)
    if query is not None:
        stmt = stmt.where(
            col(Incident.reported_at) >= query.start, col(Incident.reported_at) <= query.end
        )
        if query.codes is not None:
            stmt = stmt.where(col(Incident.category).in_(sorted(query.codes)))
        if query.statuses is not None:
            ours = [
                s.value
                for s in IncidentStatus
                if ("open" if s in OPEN else "closed") in query.statuses
            ]
            stmt = stmt.where(col(Incident.status).in_(ours))
    stmt = stmt.order_by(col(Incident.reported_at).desc(), col(Incident.id).desc()).limit(
        MAX_RESULTS
    )
    rows: list[Incident] = []
    for chunk in chunks(ids):
        rows += (await session.execute(stmt.where(col(Incident.id).in_(chunk)))).scalars().all()
    rows.sort(key=lambda i: (i.reported_at, i.id), reverse=True)
    return rows[:MAX_RESULTS]


async def read_request(session: AsyncSession, request_id: str) -> ServiceRequest:
    try:
        wanted = uuid.UUID(request_id)
    except ValueError:
        raise Problem(404, "service_request_id: no such request") from None
    incident = await session.get(Incident, wanted)
    if incident is None or not await _shown_publicly(session, incident):
        raise Problem(404, "service_request_id: no such request")
    return to_request(incident)


async def read_contact(session: AsyncSession, user: User, incident_id: uuid.UUID) -> ContactRead:
    """For those who see an anonymous report's reporter (agency officers whose jurisdiction
    holds it, admins): a verified group's coordinators moderate, but see no reporter."""
    incident, viewer = await incidents_service.load_incident(session, user, incident_id)
    if not viewer.officer:
        raise forbidden(
            "Contact details are for agency officers whose jurisdiction holds the report, "
            "and admins."
        )
    contact = await session.get(Open311Contact, incident.id)
    if contact is None:
        raise Problem(404, "This report has no contact details.", kind="not-found")
    return ContactRead.model_validate(contact, from_attributes=True)


async def erase_contacts(session: AsyncSession, user: User, data: ContactErasure) -> int:
    """An admin's answer to a person's erasure request: they have no account to erase."""
    if user.role != Role.admin:
        raise forbidden("Only an admin may do this.")
    c = Open311Contact
    matches = []
    if data.email:
        matches.append(col(c.email) == data.email.lower())
    for column, value in (
        (c.phone, data.phone),
        (c.device_id, data.device_id),
        (c.account_id, data.account_id),
    ):
        if value:
            matches.append(col(column) == value)
    result = await session.execute(delete(Open311Contact).where(or_(*matches)))
    return int(getattr(result, "rowcount", 0) or 0)
