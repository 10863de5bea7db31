"""Erasure of an account (UK GDPR art. 17), in one transaction.

What identifies the person goes: the account, its tokens, devices (and so the pushes
still pending to them), places, preferences, memberships, invitations they made, the
Firebase link, idempotency records (which hold their answers). What the community
relies on stays, anonymised as FixMyStreet does: their reports and updates, with no
reporter, marked anonymous, their photos deleted and the exact point replaced by the
snapped one; the alerts they issued, with the issuer shown as a role; their
acknowledgements, as anonymous counts. A row in `erasures` records that it happened.

Deleting the `users` row does most of it through the foreign keys (CASCADE / SET NULL,
see the models); the rest is explicit below, and `tests/privacy/test_erasure.py` reads
every table afterwards.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.alerts import places as places_service
from app.alerts.models import Ack, Alert, Place
from app.auth.models import User
from app.db import utcnow
from app.geo.index import index_for
from app.groups import service as groups_service
from app.groups.models import (
    GroupRole,
    Invitation,
    Membership,
    MembershipStatus,
    VerificationRequest,
)
from app.incidents import service as incidents_service
from app.incidents.media import Media
from app.incidents.models import Incident, IncidentUpdate
from app.outbox.models import OutboxEvent
from app.pagination import chunks
from app.privacy.models import ErasedBy, Erasure
from app.problems import Problem


@dataclass
class Erased:
    """What is left to do once the transaction has committed."""

    user_id: uuid.UUID
    photo_keys: list[str] = field(default_factory=list)


async def erase(session: AsyncSession, user: User, *, admin: User | None = None) -> Erased:
    """Erase `user` in the session's transaction; the caller commits, then deletes the
    photos from the media store and closes the user's connections."""
    await _archive_or_refuse_owned_groups(session, user)
    erased = Erased(user.id)
    await _forget_places(session, user)
    await session.execute(delete(Invitation).where(col(Invitation.created_by) == user.id))
    # Their words to the vetting officer (who runs the group…); the decisions stay.
    await session.execute(
        delete(VerificationRequest).where(col(VerificationRequest.requested_by) == user.id)
    )
    await session.execute(update(Ack).where(col(Ack.user_id) == user.id).values(user_id=None))
    reports = list(
        (
            await session.execute(
                select(col(Incident.id)).where(col(Incident.reporter_id) == user.id)
            )
        )
        .scalars()
        .all()
    )
    erased.photo_keys = await _anonymise_reports(session, user, reports)
    await session.execute(
        update(IncidentUpdate)
        .where(col(IncidentUpdate.author_id) == user.id)
        .values(author_id=None)
    )
    issued = await _anonymise_alerts(session, user)
    await _scrub_events(session, user, issued, reports)
    await session.delete(user)
    session.add(
        Erasure(
            requested_by=(ErasedBy.admin if admin is not None else ErasedBy.self).value,
            admin_id=admin.id if admin is not None else None,
        )
    )
    await session.flush()
    return erased


async def _archive_or_refuse_owned_groups(session: AsyncSession, user: User) -> None:
    """A group with other members needs its ownership handed over first (409, naming
    the groups); one the user is alone in is archived."""
    owned = (
        (
            await session.execute(
                select(col(Membership.group_id)).where(
                    col(Membership.user_id) == user.id,
                    col(Membership.role) == GroupRole.owner.value,
                    col(Membership.status) == MembershipStatus.active.value,
                )
            )
        )
        .scalars()
        .all()
    )
    if not owned:
        return
    groups = await groups_service.groups_by_id(session, list(owned))
    others = dict(
        (
            await session.execute(
                select(col(Membership.group_id), func.count())
                .where(
                    col(Membership.group_id).in_(owned),
                    col(Membership.user_id) != user.id,
                    col(Membership.status) == MembershipStatus.active.value,
                )
                .group_by(col(Membership.group_id))
            )
        ).all()
    )
    shared = [g for g in groups if g.archived_at is None and others.get(g.id, 0)]
    if shared:
        raise Problem(
            409,
            "Hand the ownership of these groups to another member first.",
            kind="owns-groups",
            groups=[{"id": str(g.id), "name": g.name} for g in shared],
        )
    for group in groups:
        if group.archived_at is None:
            await groups_service.archive(session, group)


async def _forget_places(session: AsyncSession, user: User) -> None:
    ids = (
        (await session.execute(select(col(Place.id)).where(col(Place.user_id) == user.id)))
        .scalars()
        .all()
    )
    index = index_for(session)
    for place_id in ids:
        await index.remove(session, places_service.GEO_COLLECTION, place_id)


async def _anonymise_reports(
    session: AsyncSession, user: User, reports: list[uuid.UUID]
) -> list[str]:
    """Their reports lose the reporter, the exact point and the photos; the photos they
    added to anyone's report go too. Returns the photos' storage keys."""
    await incidents_service.forget_exact_points(session, reports, utcnow())
    for chunk in chunks(reports):
        await session.execute(
            update(Incident)
            .where(col(Incident.id).in_(chunk))
            .values(reporter_id=None, anonymous=True)
        )
    photos = select(col(Media.id), col(Media.storage_key)).where(col(Media.uploader_id) == user.id)
    found = dict((await session.execute(photos)).all())
    for chunk in chunks(reports):
        rows = await session.execute(
            select(col(Media.id), col(Media.storage_key)).where(col(Media.incident_id).in_(chunk))
        )
        found.update(rows.all())
    for chunk in chunks(list(found)):
        await session.execute(delete(Media).where(col(Media.id).in_(chunk)))
    return list(found.values())


async def _anonymise_alerts(session: AsyncSession, user: User) -> list[uuid.UUID]:
    """Issued alerts stay (residents may still rely on them), signed by a role. Returns
    their versions' ids."""
    issued = (
        (await session.execute(select(Alert).where(col(Alert.issuer_id) == user.id)))
        .scalars()
        .all()
    )
    for alert in issued:
        alert.issuer_id = None
        alert.issuer_name = alert.issuer_kind
    await session.flush()
    return [alert.id for alert in issued]


async def _scrub_events(
    session: AsyncSession, user: User, issued: list[uuid.UUID], reports: list[uuid.UUID]
) -> None:
    """Outbox events keep what they said, for the replay of the realtime log, not who:
    an alert's copy names its issuer, a named report's its reporter; membership and
    report events carry the user's id. (A scan of the outbox, narrowed by event type:
    erasures are rare.)"""
    me = str(user.id)
    payload, realtime = col(OutboxEvent.payload), col(OutboxEvent.realtime)
    conditions = [
        col(OutboxEvent.event_type).in_(["membership.requested", "membership.approved"])
        & (payload["user_id"].as_string() == me),
        (col(OutboxEvent.event_type) == "incident.status_changed")
        & (payload["reporter_id"].as_string() == me),
    ]
    if issued:
        conditions.append(
            col(OutboxEvent.event_type).like("alert.%")
            & (realtime[("issuer", "id")].as_string() == me)
        )
    for chunk in chunks([str(r) for r in reports]):
        conditions.append(
            (col(OutboxEvent.event_type) == "incident.created")
            & payload["incident_id"].as_string().in_(chunk)
        )
    events = await session.execute(select(OutboxEvent).where(or_(*conditions)))
    for event in events.scalars().all():
        if event.event_type == "incident.created" and event.realtime is not None:
            event.realtime = {**event.realtime, "anonymous": True, "reporter": None}
        event.payload = _without(event.payload, me)
        if event.realtime is not None:
            event.realtime = _without(event.realtime, me)
            issuer = event.realtime.get("issuer")
            if isinstance(issuer, dict):
                event.realtime["issuer"] = {
                    **issuer,
                    "id": None,
                    "display_name": issuer.get("kind"),
                }
    await session.flush()


def _without(document: dict[str, object], user_id: str) -> dict[str, object]:
    """The document with every value equal to the user's id (at any depth) set to None."""

    def clean(value: object) -> object:
        if value == user_id:
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    cleaned = clean(document)
    assert isinstance(cleaned, dict)
    return cleaned
