from __future__ import annotations

import uuid
from typing import Literal

from fastapi import Depends, Request, Response, status
from sqlalchemy import select
from sqlmodel import col

from app.alerts import acks, service
from app.alerts import places as places_service
from app.alerts.cap import CAP_MEDIA_TYPE, atom_feed, cap_document
from app.alerts.client_reads import list_alerts_for_client, list_issued_by_client
from app.alerts.deps import AlertFromPath, ReadableAlert, WritableAlert
from app.alerts.models import Alert, AlertStatus, MsgType
from app.alerts.schemas import (
    AckBody,
    AckRead,
    AlertCancel,
    AlertCreate,
    AlertDetail,
    AlertRead,
    AlertStats,
    AlertUpdate,
    PlaceCreate,
    PlaceRead,
    PlaceUpdate,
    PreferencesBody,
    PreferencesRead,
)
from app.alerts.why import why
from app.auth.client_deps import AlertsReader, AlertsWriter
from app.auth.deps import CurrentUser
from app.auth.models import Role, User
from app.db import SessionDep, utcnow
from app.groups.models import Group
from app.pagination import CursorParam, LimitParam, Page
from app.problems import not_found
from app.ratelimit import HOUR, Rate
from app.routing import make_router, negotiate, problem_responses
from app.settings import Settings

router = make_router(prefix="/v1", tags=["alerts"], responses=problem_responses(401))
places_router = make_router(prefix="/v1/me", tags=["places"], responses=problem_responses(401))
cap_router = make_router(prefix="/v1/cap", tags=["cap"])


def _alert_rate(settings: Settings, user: User) -> Rate:
    if user.role in (Role.agency, Role.admin):
        return Rate(settings.alerts_per_agency_per_hour, HOUR)
    return Rate(settings.alerts_per_issuer_per_hour, HOUR)


async def _limit_alerts(request: Request, caller: AlertsWriter) -> None:
    """Issuing and updating an alert both push to an area: one count per issuer, user or
    API client (which issues as an agency)."""
    settings: Settings = request.app.state.settings
    if isinstance(caller, User):
        limit, key = _alert_rate(settings, caller), f"alerts:{caller.id}"
    else:
        limit = Rate(settings.alerts_per_agency_per_hour, HOUR)
        key = f"alerts:client:{caller.client.id}"
    detail = f"At most {limit.amount} alerts and alert updates per hour."
    await request.app.state.limiter.take(limit, key, detail)


ALERTS_LIMIT = Depends(_limit_alerts)
# Abridged: the documents validate against the OASIS CAP 1.2 schema (tests/alerts/test_cap).
_CAP_EXAMPLE = """\
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>urn:uuid:5f0c2a7e-3b1d-4c8e-9f6a-1d2e3f4a5b6c</identifier>
  <sender>neighbourwatch.example.org</sender>
  <sent>2026-11-23T21:40:00+00:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <category>Security</category>
    <event>Burglary</event>
    <urgency>Expected</urgency>
    <severity>Moderate</severity>
    <certainty>Likely</certainty>
    <expires>2026-11-24T09:00:00+00:00</expires>
    <headline>Sheds broken into on Elm Street</headline>
    <area>
      <areaDesc>Elm Street Watch</areaDesc>
      <circle>51.508,-0.1281 0.8</circle>
    </area>
  </info>
</alert>
"""
_CAP_CONTENT = {CAP_MEDIA_TYPE: {"schema": {"type": "string"}, "example": _CAP_EXAMPLE}}
_ATOM_EXAMPLE = """\
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Neighbourwatch public alerts</title>
  <updated>2026-11-23T21:40:00Z</updated>
  <entry>
    <title>Sheds broken into on Elm Street</title>
    <link href="/v1/cap/alerts/5f0c2a7e-3b1d-4c8e-9f6a-1d2e3f4a5b6c"
      type="application/cap+xml"/>
    <updated>2026-11-23T21:40:00Z</updated>
  </entry>
</feed>
"""


@places_router.get("/places", response_model=Page[PlaceRead])
async def list_places(
    user: CurrentUser, session: SessionDep, limit: LimitParam = 50, cursor: CursorParam = None
) -> Page[PlaceRead]:
    """The places the caller watches (visible to the caller alone)."""
    return await places_service.list_places(session, user, limit, cursor)


@places_router.post(
    "/places",
    status_code=status.HTTP_201_CREATED,
    response_model=PlaceRead,
    responses=problem_responses(409),
)
async def create_place(data: PlaceCreate, user: CurrentUser, session: SessionDep) -> PlaceRead:
    """Watch a place: a point and a radius (50 m - 5 km), at most 10 places."""
    return places_service.place_read(await places_service.create_place(session, user, data))


@places_router.patch("/places/{place_id}", response_model=PlaceRead)
async def update_place(
    place_id: uuid.UUID, data: PlaceUpdate, user: CurrentUser, session: SessionDep
) -> PlaceRead:
    """Change one of the caller's places: its label, point or radius."""
    place = await places_service.update_place(session, user, place_id, data)
    return places_service.place_read(place)


@places_router.delete("/places/{place_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_place(place_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> None:
    """Stop watching a place: alerts that would reach the caller only through it no
    longer do."""
    await places_service.delete_place(session, user, place_id)


@places_router.get("/preferences", response_model=PreferencesRead)
async def read_preferences(user: CurrentUser, session: SessionDep) -> PreferencesRead:
    """The caller's alert preferences; the defaults until they set any."""
    return await places_service.get_preferences(session, user)


@places_router.put("/preferences", response_model=PreferencesRead)
async def replace_preferences(
    data: PreferencesBody, user: CurrentUser, session: SessionDep
) -> PreferencesRead:
    """Muted categories, minimum severity and quiet hours (`extreme` ignores all three)."""
    return await places_service.put_preferences(session, user, data)


@router.post(
    "/alerts",
    status_code=status.HTTP_201_CREATED,
    response_model=AlertRead,
    responses=problem_responses(403, 429),
    dependencies=[ALERTS_LIMIT],
)
async def issue_alert(
    data: AlertCreate, caller: AlertsWriter, session: SessionDep, request: Request
) -> AlertRead:
    """Issue a geofenced alert: group coordinators for their group, agency users inside
    their jurisdiction, admins anywhere. A coordinator's area is at least a circle of
    `NW_MIN_ALERT_RADIUS_M` (default 200 m; a polygon at least its area), else 422 naming
    `area`; agency officers and admins may go down to 25 m. An API client with
    `alerts:write` issues as an agency inside its jurisdiction (anywhere without one),
    never to a group; the alert is shown under the client's name."""
    issuer = caller if isinstance(caller, User) else caller.client
    alert = await service.issue_alert(session, request.app.state.settings, issuer, data)
    return service.to_read(alert)


@router.get("/alerts", response_model=Page[AlertRead], responses=problem_responses(403, 429))
async def list_alerts(
    caller: AlertsReader,
    session: SessionDep,
    scope: Literal["mine", "issued"] = "mine",
    active: bool | None = True,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[AlertRead]:
    """`mine`: alerts touching the caller's places (or groups); `issued`: the caller's own.
    For an API client (`alerts:read`), `mine` is the public alerts touching its
    jurisdiction (all of them without one) and its group's alerts; `issued`, those it
    issued itself with `alerts:write`."""
    if isinstance(caller, User):
        return await service.list_alerts(session, caller, scope, active, limit, cursor)
    if scope == "issued":
        return await list_issued_by_client(session, caller.client, active, limit, cursor)
    return await list_alerts_for_client(session, caller.client, active, limit, cursor)


async def _cap_response(session: SessionDep, request: Request, alert: Alert) -> Response:
    versions = await service.chain(session, alert)
    group = await session.get(Group, alert.group_id) if alert.group_id else None
    body = cap_document(
        alert, versions, request.app.state.settings.cap_sender, group.name if group else None
    )
    return Response(body, media_type=CAP_MEDIA_TYPE)


@router.get(
    "/alerts/{alert_id}",
    response_model=AlertDetail,
    responses={200: {"content": _CAP_CONTENT}, **problem_responses(403, 429)},
)
async def read_alert(
    alert: ReadableAlert,
    caller: AlertsReader,
    session: SessionDep,
    request: Request,
) -> AlertDetail | Response:
    """The alert; with `Accept: application/cap+xml`, as a CAP 1.2 document. For a
    recipient, `why`: which of their places (or, with none, groups) it touched, whether
    it came silently and why (quiet hours, with the window), and what of their
    preferences an `extreme` alert overrode. API clients with `alerts:read` read what
    they may list."""
    if negotiate(request, "application/json", CAP_MEDIA_TYPE) == CAP_MEDIA_TYPE:
        return await _cap_response(session, request, alert)
    reason = await why(session, caller, alert) if isinstance(caller, User) else None
    return AlertDetail(**service.to_read(alert).model_dump(), why=reason)


@router.post(
    "/alerts/{alert_id}/update",
    status_code=status.HTTP_201_CREATED,
    response_model=AlertRead,
    responses=problem_responses(403, 409, 429),
    dependencies=[ALERTS_LIMIT],
)
async def update_alert(
    data: AlertUpdate,
    alert: WritableAlert,
    caller: AlertsWriter,
    session: SessionDep,
    request: Request,
) -> AlertRead:
    """A new version replacing this one; it reaches everyone either version reached. A new
    area obeys the same minimum as issuing (200 m for coordinators), and an API client's
    stays inside its jurisdiction; a client updates only the alerts it issued."""
    issuer = caller if isinstance(caller, User) else caller.client
    settings = request.app.state.settings
    version = await service.update_alert(session, settings, issuer, alert, data)
    return service.to_read(version)


@router.post(
    "/alerts/{alert_id}/cancel",
    status_code=status.HTTP_201_CREATED,
    response_model=AlertRead,
    responses=problem_responses(403, 409),
)
async def cancel_alert(
    alert: WritableAlert,
    caller: AlertsWriter,
    session: SessionDep,
    data: AlertCancel | None = None,
) -> AlertRead:
    """Cancel: a final version that tells every recipient the alert is over (an API
    client cancels only the alerts it issued)."""
    issuer = caller if isinstance(caller, User) else caller.client
    return service.to_read(
        await service.cancel_alert(session, issuer, alert, data.reason if data else None)
    )


@router.post(
    "/alerts/{alert_id}/ack",
    status_code=status.HTTP_201_CREATED,
    response_model=AckRead,
    responses={200: {"model": AckRead, "description": "Already acknowledged"}},
)
async def ack_alert(
    data: AckBody,
    alert: AlertFromPath,
    user: CurrentUser,
    session: SessionDep,
    response: Response,
) -> AckRead:
    """Acknowledge an alert: seen, acted or dismissed (each once per person). With
    `acted`, `actions` may name which of the alert's actions the caller took, by library
    id or by position; acting again adds to them (200). An action the alert does not
    have → 422 naming `actions.N.action_id` or `actions.N.index`."""
    ack, created, actions = await acks.ack_alert(session, user, alert, data.kind, data.actions)
    if not created:
        response.status_code = status.HTTP_200_OK
    return AckRead(
        alert_id=ack.alert_id, kind=data.kind, actions=actions, created_at=ack.created_at
    )


@router.get("/alerts/{alert_id}/stats", response_model=AlertStats, responses=problem_responses(403))
async def read_alert_stats(
    alert: AlertFromPath, user: CurrentUser, session: SessionDep, request: Request
) -> AlertStats:
    """Reach and response, for the issuer: counts only, never who, rounded to two
    significant figures and "<10" under ten; `median_ack_s` is null under ten acks.
    `actions`: per action of this version, how many said they took it (rounded too)."""
    return await acks.alert_stats(session, user, alert, request.app.state.push_counts)


def _public(alert: Alert | None) -> bool:
    return alert is not None and alert.group_id is None and alert.status != AlertStatus.test


@cap_router.get(
    "/alerts.atom",
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/atom+xml": {"schema": {"type": "string"}, "example": _ATOM_EXAMPLE}
            }
        }
    },
)
async def read_cap_feed(session: SessionDep, request: Request) -> Response:
    """Atom feed of active, actual, public alerts, each linking to its CAP document."""
    now = utcnow()
    rows = await session.execute(
        select(Alert)
        .where(
            col(Alert.group_id).is_(None),
            col(Alert.status) == AlertStatus.actual.value,
            col(Alert.superseded_at).is_(None),
            col(Alert.msg_type) != MsgType.cancel.value,
            col(Alert.expires_at) > now,
        )
        .order_by(col(Alert.issued_at).desc())
        .limit(200)
    )
    alerts = list(rows.scalars().all())
    base = request.app.state.settings.public_base_url.rstrip("/")
    return Response(
        atom_feed(alerts, base, alerts[0].issued_at if alerts else now),
        media_type="application/atom+xml",
    )


@cap_router.get(
    "/alerts/{alert_id}",
    response_class=Response,
    responses={200: {"content": _CAP_CONTENT}, **problem_responses(404)},
)
async def read_public_cap(alert_id: uuid.UUID, session: SessionDep, request: Request) -> Response:
    """A public alert as CAP 1.2, for aggregators (no sign-in)."""
    alert = await session.get(Alert, alert_id)
    if alert is None or not _public(alert):
        raise not_found("alert")
    return await _cap_response(session, request, alert)
