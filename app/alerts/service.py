"""Issuing alerts and everything a reader or issuer does with them afterwards.

Who may issue: a group's coordinators and owner, for that group, inside its area; an
agency user inside their jurisdiction; an admin anywhere. Updates and cancels are new
versions that reference the one they replace.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import outbox
from app.alerts import client_writes
from app.alerts import places as places_service
from app.alerts.models import Alert, AlertStatus, MsgType
from app.alerts.schemas import (
    MAX_LIFETIME,
    Action,
    AlertCreate,
    AlertRead,
    AlertUpdate,
    ReachCount,
)
from app.auth.models import ApiClient, Role, User
from app.db import utcnow
from app.evidence import library as evidence_library
from app.geo.index import index_for
from app.geo.schemas import MAX_RADIUS_M, MIN_RADIUS_M
from app.geo.shapes import Shape, contains, from_geojson, intersects
from app.geo.validation import AreaLimits, check_at_least, checked_area
from app.groups import service as groups_service
from app.groups.models import Group, Verification
from app.pagination import Page, newest_first, page_of
from app.problems import Problem, conflict, forbidden, invalid, not_found
from app.settings import Settings

GEO_COLLECTION = "alert"
EVENT = {
    MsgType.alert: "alert.issued",
    MsgType.update: "alert.updated",
    MsgType.cancel: "alert.cancelled",
}


def area_limits(settings: Settings) -> AreaLimits:
    return AreaLimits(MIN_RADIUS_M, MAX_RADIUS_M, settings.max_area_km2)


def check_coordinator_reach(
    settings: Settings, user: User | ApiClient, shape: Shape, *, given: bool = True
) -> None:
    """A coordinator (a resident alerting through a group) alerts at least a circle of
    NW_MIN_ALERT_RADIUS_M, or a polygon of its area: a smaller alert would tell its issuer,
    through the reach figures, whether anyone watches one house. Agency officers and
    admins keep the 25 m minimum, and so do API clients, which issue as an agency.
    `given`: the caller sent the area (else the group's)."""
    if isinstance(user, ApiClient) or user.role in (Role.agency, Role.admin):
        return
    check_at_least("area", shape, settings.min_alert_radius_m, given=given)


def is_active(alert: Alert, now: datetime | None = None) -> bool:
    return (
        alert.superseded_at is None
        and alert.msg_type != MsgType.cancel
        and alert.expires_at > (now or utcnow())
    )


def to_read(alert: Alert) -> AlertRead:
    return AlertRead.model_validate(
        {
            "id": alert.id,
            "title": alert.title,
            "body": alert.body,
            "category": alert.category,
            "severity": alert.severity,
            "urgency": alert.urgency,
            "certainty": alert.certainty,
            "status": alert.status,
            "exercise": alert.status == AlertStatus.exercise,
            "area": alert.area,
            "group_id": alert.group_id,
            "actions": [
                {"action_id": a.get("action_id"), "text": a["text"], "url": a.get("url")}
                for a in alert.actions
            ],
            "issued_at": alert.issued_at,
            "expires_at": alert.expires_at,
            "issuer": {
                "id": alert.issuer_id,
                "display_name": alert.issuer_name,
                "kind": alert.issuer_kind,
            },
            "msg_type": alert.msg_type,
            "version": alert.version,
            "references": alert.previous_id,
            "active": is_active(alert),
        }
    )


async def resolve_actions(session: AsyncSession, actions: list[Action]) -> list[dict[str, Any]]:
    """The actions as the alert keeps them: a library action's text and link copied (an
    edit to the library later never rewrites what an alert said), free text as given."""
    wanted = [a.action_id for a in actions if a.action_id is not None]
    library = await evidence_library.actions_by_id(session, wanted) if wanted else {}
    kept: list[dict[str, Any]] = []
    for i, action in enumerate(actions):
        if action.action_id is None:
            kept.append(action.model_dump(mode="json", exclude={"action_id"}, exclude_none=True))
            continue
        found = library.get(action.action_id)
        if found is None:
            raise invalid(
                f"actions.{i}.action_id",
                "is not an action of the prevention library (GET /v1/prevention-actions)",
                code="unknown_action",
            )
        kept.append({"action_id": str(found.id), "text": found.text, "url": found.url})
    return kept


def _check_expiry(expires_at: datetime) -> None:
    now = utcnow()
    if expires_at <= now:
        raise invalid("expires_at", "must be in the future")
    if expires_at > now + MAX_LIFETIME:
        raise invalid("expires_at", f"must be at most {MAX_LIFETIME.days} days ahead")


async def _authorise(
    session: AsyncSession,
    settings: Settings,
    user: User,
    group_id: uuid.UUID | None,
    area: Any,
) -> tuple[Literal["coordinator", "agency", "admin"], dict[str, Any], Shape]:
    """Check the issuer may alert this area; returns their kind, the area and its shape."""
    if group_id is not None:
        access = await groups_service.load_group(session, group_id, user)
        groups_service.require_moderator(access)
        group_shape = from_geojson(access.group.area)
        if area is None:
            check_coordinator_reach(settings, user, group_shape, given=False)
            return (
                "admin" if access.role is None else "coordinator",
                access.group.area,
                group_shape,
            )
        shape = checked_area("area", area, area_limits(settings))
        check_coordinator_reach(settings, user, shape)
        if not contains(group_shape, shape):
            raise invalid("area", "must lie within the group's area", code="outside_group")
        return ("admin" if access.role is None else "coordinator", area.model_dump(), shape)
    if user.role not in (Role.agency, Role.admin):
        raise forbidden(
            "Residents issue alerts through a watch group they coordinate (give group_id)."
        )
    if area is None:
        raise invalid("area", "is required for an alert outside a group")
    shape = checked_area("area", area, area_limits(settings))
    if user.role == Role.agency:
        if not user.jurisdiction:
            raise forbidden("Your account has no jurisdiction to issue alerts in.")
        if not contains(from_geojson(user.jurisdiction), shape):
            raise forbidden("The alert area lies outside your jurisdiction.")
        return "agency", area.model_dump(), shape
    return "admin", area.model_dump(), shape


UNVETTED_SEVERITIES = frozenset({"moderate", "minor"})


async def _check_severity(
    session: AsyncSession, user: User | ApiClient, group_id: uuid.UUID | None, severity: str
) -> None:
    """Severe and extreme alerts come from verified groups, agency officers and admins
    (and API clients, which issue as an agency)."""
    if group_id is None or severity in UNVETTED_SEVERITIES:
        return
    if isinstance(user, ApiClient) or user.role in (Role.agency, Role.admin):
        return
    group = await session.get(Group, group_id)
    if group is None or group.verification != Verification.verified:
        raise invalid(
            "severity",
            "an unverified group's alerts are at most `moderate`; severe and extreme "
            "alerts come from verified groups, agency officers and admins",
            code="unverified_group",
        )


def _issuer_of(user: User | ApiClient, shown_as: str | None) -> dict[str, Any]:
    if isinstance(user, ApiClient):
        return {"issuer_id": None, "issuer_name": user.name, "issued_by_client_id": user.id}
    return {"issuer_id": user.id, "issuer_name": (shown_as or user.display_name)[:80]}


async def issue_alert(
    session: AsyncSession,
    settings: Settings,
    user: User | ApiClient,
    data: AlertCreate,
    *,
    issuer_name: str | None = None,
) -> Alert:
    """Issue as a user (see `_authorise`) or as an API client (`client_writes`).

    `issuer_name`: what the alert is shown under, when not the issuer's own name (an
    agency's CAP feed, issued as one of its officers or as the feeds' system account)."""
    _check_expiry(data.expires_at)
    if isinstance(user, ApiClient):
        limits = area_limits(settings)
        kind, area, shape = client_writes.authorise_client(user, data.group_id, data.area, limits)
    else:
        kind, area, shape = await _authorise(session, settings, user, data.group_id, data.area)
    await _check_severity(session, user, data.group_id, data.severity.value)
    alert_id = uuid.uuid4()
    alert = Alert(
        id=alert_id,
        chain_id=alert_id,
        version=1,
        msg_type=MsgType.alert.value,
        title=data.title,
        body=data.body,
        category=data.category.value,
        severity=data.severity.value,
        urgency=data.urgency.value,
        certainty=data.certainty.value,
        status=data.status.value,
        area=area,
        actions=await resolve_actions(session, data.actions),
        group_id=data.group_id,
        issuer_kind=kind,
        **_issuer_of(user, issuer_name),
        issued_at=utcnow(),
        expires_at=data.expires_at,
    )
    session.add(alert)
    await session.flush()
    await index_for(session).put(session, GEO_COLLECTION, alert.id, shape)
    await outbox.emit(
        session,
        EVENT[MsgType.alert],
        {"alert_id": str(alert.id), "chain_id": str(alert.chain_id), "version": 1},
    )
    return alert


async def chain(session: AsyncSession, alert: Alert) -> list[Alert]:
    rows = await session.execute(
        select(Alert).where(col(Alert.chain_id) == alert.chain_id).order_by(col(Alert.version))
    )
    return list(rows.scalars().all())


def may_manage(user: User | ApiClient, alert: Alert, moderator: bool) -> bool:
    if isinstance(user, ApiClient):
        return alert.issued_by_client_id == user.id
    return user.role == Role.admin or alert.issuer_id == user.id or moderator


async def is_group_moderator(
    session: AsyncSession, user: User | ApiClient, group_id: uuid.UUID | None
) -> bool:
    if group_id is None or isinstance(user, ApiClient):
        return False
    roles = await groups_service.roles_in(session, user.id, [group_id])
    return roles.get(group_id) in groups_service.MODERATOR_ROLES


async def _new_version(
    session: AsyncSession,
    user: User | ApiClient,
    alert: Alert,
    msg_type: MsgType,
    changes: dict[str, Any],
    shape: Shape | None,
) -> Alert:
    if not may_manage(user, alert, await is_group_moderator(session, user, alert.group_id)):
        raise forbidden("Only the issuer, the group's coordinators or an admin may do this.")
    if not is_active(alert):
        raise conflict(
            "Only the current version of an active alert can be updated or cancelled.",
            kind="alert-not-active",
        )
    fields = {
        c: getattr(alert, c)
        for c in (
            "chain_id",
            "title",
            "body",
            "category",
            "severity",
            "urgency",
            "certainty",
            "status",
            "area",
            "actions",
            "group_id",
            "issuer_id",
            "issuer_kind",
            "issuer_name",
            "issued_by_client_id",
            "expires_at",
        )
    }
    fields.update(changes)
    now = utcnow()
    version = Alert(
        id=uuid.uuid4(),
        version=alert.version + 1,
        previous_id=alert.id,
        msg_type=msg_type.value,
        issued_at=now,
        **fields,
    )
    alert.superseded_at = now
    session.add(version)
    await session.flush()
    await index_for(session).put(
        session, GEO_COLLECTION, version.id, shape or from_geojson(version.area)
    )
    await outbox.emit(
        session,
        EVENT[msg_type],
        {
            "alert_id": str(version.id),
            "chain_id": str(version.chain_id),
            "version": version.version,
            "previous_id": str(alert.id),
        },
    )
    return version


async def update_alert(
    session: AsyncSession,
    settings: Settings,
    user: User | ApiClient,
    alert: Alert,
    data: AlertUpdate,
) -> Alert:
    changes: dict[str, Any] = {}
    for field, value in data.model_dump(exclude_unset=True, mode="json").items():
        if value is None:
            raise invalid(field, "cannot be null")
        changes[field] = value
    if data.actions is not None:
        changes["actions"] = await resolve_actions(session, data.actions)
    shape = None
    if data.area is not None:
        shape = checked_area("area", data.area, area_limits(settings))
        check_coordinator_reach(settings, user, shape)
        if isinstance(user, ApiClient):
            client_writes.check_in_jurisdiction(user, shape)
        elif alert.group_id is not None:
            group = await session.get(Group, alert.group_id)
            if group is not None and not contains(from_geojson(group.area), shape):
                raise invalid("area", "must lie within the group's area", code="outside_group")
        elif (
            alert.issuer_kind == "agency"
            and user.role == Role.agency
            and not (user.jurisdiction and contains(from_geojson(user.jurisdiction), shape))
        ):
            raise forbidden("The alert area lies outside your jurisdiction.")
    if data.expires_at is not None:
        _check_expiry(data.expires_at)
        changes["expires_at"] = data.expires_at
    # Every new version is sent again: it must be one its group may send now (a group
    # suspended since the first version cannot go on re-issuing it as severe).
    severity = data.severity.value if data.severity is not None else alert.severity
    await _check_severity(session, user, alert.group_id, severity)
    if not changes:
        raise Problem(422, "Nothing to change.", kind="validation-error")
    return await _new_version(session, user, alert, MsgType.update, changes, shape)


async def cancel_alert(
    session: AsyncSession, user: User | ApiClient, alert: Alert, reason: str | None = None
) -> Alert:
    """The final version; its body says why it is over, when the issuer said so."""
    changes = {"body": reason} if reason else {}
    return await _new_version(session, user, alert, MsgType.cancel, changes, None)


async def _watched_shapes(session: AsyncSession, user: User) -> list[Shape]:
    places = await places_service.user_places(session, user.id)
    if places:
        return [places_service.place_shape(p) for p in places]
    return [
        from_geojson(g.area) for g, _ in await groups_service.active_memberships(session, user.id)
    ]


async def _active_group_ids(session: AsyncSession, user: User) -> set[uuid.UUID]:
    return {g.id for g, _ in await groups_service.active_memberships(session, user.id)}


async def load_alert(session: AsyncSession, user: User, alert_id: uuid.UUID) -> Alert:
    """The alert if `user` may read it; 404 otherwise (a group alert's existence is private).

    Readers: its issuer; admins; for a public alert (no group, not a test) every
    signed-in user, as it is published in the CAP feed anyway; for a group alert the
    group's moderators and the members whose watched areas it touches.
    """
    alert = await session.get(Alert, alert_id)
    if alert is None:
        raise not_found("alert")
    if user.role == Role.admin or alert.issuer_id == user.id:
        return alert
    if alert.status == AlertStatus.test:
        raise not_found("alert")
    if alert.group_id is None:
        return alert
    if await is_group_moderator(session, user, alert.group_id):
        return alert
    if alert.group_id in await _active_group_ids(session, user):
        shape = from_geojson(alert.area)
        if any(intersects(shape, watched) for watched in await _watched_shapes(session, user)):
            return alert
    raise not_found("alert")


async def list_alerts(
    session: AsyncSession,
    user: User,
    scope: Literal["mine", "issued"],
    active: bool | None,
    limit: int,
    cursor: str | None,
) -> Page[AlertRead]:
    stmt = select(Alert).where(col(Alert.superseded_at).is_(None))
    if scope == "issued":
        stmt = stmt.where(col(Alert.issuer_id) == user.id)
    else:
        ids: set[uuid.UUID] = set()
        index = index_for(session)
        for shape in await _watched_shapes(session, user):
            ids.update(await index.intersecting(session, GEO_COLLECTION, shape))
        stmt = stmt.where(
            col(Alert.id).in_(ids),
            or_(
                col(Alert.group_id).is_(None),
                col(Alert.group_id).in_(await _active_group_ids(session, user)),
            ),
            or_(col(Alert.status) != AlertStatus.test.value, col(Alert.issuer_id) == user.id),
        )
    return await page_of_alerts(session, stmt, active, limit, cursor)


async def page_of_alerts(
    session: AsyncSession,
    stmt: Select[Alert],
    active: bool | None,
    limit: int,
    cursor: str | None,
) -> Page[AlertRead]:
    """A page of the alerts `stmt` selects, newest first, active or not as asked."""
    now = utcnow()
    if active is True:
        stmt = stmt.where(col(Alert.msg_type) != MsgType.cancel.value, col(Alert.expires_at) > now)
    elif active is False:
        stmt = stmt.where(
            or_(col(Alert.msg_type) == MsgType.cancel.value, col(Alert.expires_at) <= now)
        )
    rows = list(
        (
            await session.execute(
                newest_first(stmt, col(Alert.issued_at), col(Alert.id), cursor, limit)
            )
        )
        .scalars()
        .all()
    )
    return page_of(rows, limit, lambda a: (a.issued_at, a.id), to_read)


# Reach figures under this are shown as "<10" (statistical disclosure control).
DISCLOSURE_FLOOR = 10


def disclosed(count: int) -> int | Literal["<10"]:
    """`count` rounded half up to two significant figures, or "<10" under ten: 123 →
    120, 1,234 → 1,200. A small or exact count would tell an issuer whether someone
    watches a spot."""
    count = int(count)
    if count < DISCLOSURE_FLOOR:
        return "<10"
    step: int = 10 ** max(0, len(str(count)) - 2)
    return (count + step // 2) // step * step


def reach(count: int) -> ReachCount:
    return ReachCount(disclosed(count))


def actions_text(actions: list[dict[str, Any]]) -> str:
    """The alert's actions as CAP's `instruction`, a line each (`- text (url)`)."""
    return "\n".join(f"- {a['text']}" + (f" ({a['url']})" if a.get("url") else "") for a in actions)
