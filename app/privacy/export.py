"""The export of everything held about one person (UK GDPR art. 15 and 20).

One read transaction, one query per kind of record (chunked where a list of ids can be
long), so that a busy account's export costs a few dozen statements, not one per row.
"""

from __future__ import annotations

import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterable
from typing import IO, Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.alerts import acks as acks_service
from app.alerts import service as alerts_service
from app.alerts.models import Ack, Alert, AlertReceipt, Place, Preferences
from app.auth.models import ApiClient, RefreshToken, User
from app.db import utcnow
from app.devices.models import Device
from app.groups.models import Group, Invitation, Membership, VerificationRequest
from app.incidents.media import Media
from app.incidents.models import Incident, IncidentUpdate, StatusChange
from app.pagination import chunks
from app.privacy.schemas import (
    Export,
    ExportAccount,
    ExportAck,
    ExportApiClient,
    ExportDeliveries,
    ExportDevice,
    ExportInvitation,
    ExportMembership,
    ExportPhoto,
    ExportPlace,
    ExportPreferences,
    ExportPush,
    ExportRealtime,
    ExportReceipt,
    ExportReport,
    ExportSession,
    ExportStatusChange,
    ExportTakenAction,
    ExportUpdate,
    ExportVerificationRequest,
)
from app.push.models import Delivery
from app.realtime.models import LoggedEvent

R = TypeVar("R", bound=BaseModel)

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
# A ZIP is built on disk past this, so that an account with many photos cannot fill memory.
SPOOL_BYTES = 8 * 1024 * 1024


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def photo_file(media: Media) -> str:
    return f"photos/{media.id}.{EXTENSIONS.get(media.content_type, 'bin')}"


async def _all(session: AsyncSession, stmt: Any) -> list[Any]:
    return list((await session.execute(stmt)).scalars().all())


async def _owned(
    session: AsyncSession, read: type[R], entity: Any, owner: Any, user: User, order: Any = None
) -> list[R]:
    """The user's rows of one table, oldest first, as export records."""
    stmt = select(entity).where(owner == user.id)
    rows = await _all(session, stmt.order_by(order) if order is not None else stmt)
    return [read.model_validate(row, from_attributes=True) for row in rows]


async def _by_ids(
    session: AsyncSession, entity: Any, column: Any, ids: Iterable[uuid.UUID]
) -> list[Any]:
    found: list[Any] = []
    for chunk in chunks(sorted(ids)):
        found += await _all(session, select(entity).where(column.in_(chunk)))
    return found


async def _acks(session: AsyncSession, user: User) -> list[ExportAck]:
    rows = await _all(
        session, select(Ack).where(col(Ack.user_id) == user.id).order_by(col(Ack.created_at))
    )
    named = await acks_service.actions_of(session, [a.id for a in rows])
    return [
        ExportAck(
            alert_id=a.alert_id,
            chain_id=a.chain_id,
            kind=a.kind,
            actions=[
                ExportTakenAction(action_id=t.action_id, text=t.text) for t in named.get(a.id, [])
            ],
            created_at=a.created_at,
        )
        for a in rows
    ]


async def _sessions(session: AsyncSession, user: User) -> list[ExportSession]:
    """A sign-in is a family of refresh tokens, rotated on each use: its first token
    says when it began, its newest when it was last used. No token or hash is shown."""
    tokens = await _all(
        session,
        select(RefreshToken)
        .where(col(RefreshToken.user_id) == user.id)
        .order_by(col(RefreshToken.created_at)),
    )
    families: dict[uuid.UUID, list[RefreshToken]] = {}
    for token in tokens:
        families.setdefault(token.family_id, []).append(token)
    return [
        ExportSession(
            id=family_id,
            created_at=family[0].created_at,
            last_used_at=family[-1].created_at,
            expires_at=family[-1].expires_at,
            revoked_at=family[-1].revoked_at,
        )
        for family_id, family in families.items()
    ]


async def _reports(session: AsyncSession, user: User) -> list[ExportReport]:
    incidents = await _all(
        session,
        select(Incident)
        .where(col(Incident.reporter_id) == user.id)
        .order_by(col(Incident.reported_at)),
    )
    changes = await _by_ids(
        session, StatusChange, col(StatusChange.incident_id), [i.id for i in incidents]
    )
    history: dict[uuid.UUID, list[ExportStatusChange]] = {}
    for change in sorted(changes, key=lambda c: c.created_at):
        history.setdefault(change.incident_id, []).append(
            ExportStatusChange.model_validate(change, from_attributes=True)
        )
    reports = [
        ExportReport(
            id=i.id,
            category=i.category,
            description=i.description,
            occurred_at=i.occurred_at,
            reported_at=i.reported_at,
            location=_point(i.lon, i.lat),
            location_shown=_point(i.snapped_lon, i.snapped_lat),
            accuracy_m=i.accuracy_m,
            anonymous=i.anonymous,
            status=i.status,
            police_reference=i.police_reference,
            history=history.get(i.id, []),
        )
        for i in incidents
    ]
    return reports


async def photos_of(session: AsyncSession, user: User) -> list[Media]:
    """The photos they uploaded, and any on their reports."""
    own = await _all(session, select(Media).where(col(Media.uploader_id) == user.id))
    reports = await _all(
        session, select(col(Incident.id)).where(col(Incident.reporter_id) == user.id)
    )
    on_reports = await _by_ids(session, Media, col(Media.incident_id), reports)
    unique = {m.id: m for m in [*own, *on_reports]}
    return sorted(unique.values(), key=lambda m: m.created_at)


async def build(session: AsyncSession, user: User) -> Export:
    memberships = await _all(session, select(Membership).where(col(Membership.user_id) == user.id))
    groups = {
        g.id: g
        for g in await _by_ids(session, Group, col(Group.id), {m.group_id for m in memberships})
    }
    reports = await _reports(session, user)
    preferences = await session.get(Preferences, user.id)
    issued = await _all(
        session,
        select(Alert).where(col(Alert.issuer_id) == user.id).order_by(col(Alert.issued_at)),
    )
    logged = await _all(
        session,
        select(LoggedEvent)
        .where(col(LoggedEvent.user_id) == user.id)
        .order_by(col(LoggedEvent.user_seq)),
    )
    return Export(
        generated_at=utcnow(),
        account=ExportAccount.model_validate(user, from_attributes=True),
        sessions=await _sessions(session, user),
        devices=await _owned(
            session, ExportDevice, Device, col(Device.user_id), user, col(Device.created_at)
        ),
        places=[
            ExportPlace(
                id=p.id,
                label=p.label,
                location=_point(p.lon, p.lat),
                radius_m=p.radius_m,
                created_at=p.created_at,
                updated_at=p.updated_at,
            )
            for p in await _all(
                session,
                select(Place).where(col(Place.user_id) == user.id).order_by(col(Place.created_at)),
            )
        ],
        preferences=(
            ExportPreferences.model_validate(preferences, from_attributes=True)
            if preferences is not None
            else None
        ),
        memberships=[
            ExportMembership(
                group_id=m.group_id,
                group_name=groups[m.group_id].name if m.group_id in groups else "",
                role=m.role,
                status=m.status,
                message=m.message,
                created_at=m.created_at,
            )
            for m in memberships
        ],
        invitations=await _owned(
            session, ExportInvitation, Invitation, col(Invitation.created_by), user
        ),
        api_clients=await _owned(
            session,
            ExportApiClient,
            ApiClient,
            col(ApiClient.created_by),
            user,
            col(ApiClient.created_at),
        ),
        verification_requests=await _owned(
            session,
            ExportVerificationRequest,
            VerificationRequest,
            col(VerificationRequest.requested_by),
            user,
        ),
        reports=reports,
        updates=await _owned(
            session,
            ExportUpdate,
            IncidentUpdate,
            col(IncidentUpdate.author_id),
            user,
            col(IncidentUpdate.created_at),
        ),
        photos=[
            ExportPhoto(
                id=m.id,
                incident_id=m.incident_id,
                content_type=m.content_type,
                size=m.size,
                width=m.width,
                height=m.height,
                url=f"/v1/media/{m.id}",
                file=photo_file(m),
                created_at=m.created_at,
            )
            for m in await photos_of(session, user)
        ],
        acknowledgements=await _acks(session, user),
        alerts_issued=[alerts_service.to_read(a) for a in issued],
        deliveries=ExportDeliveries(
            push=await _owned(
                session, ExportPush, Delivery, col(Delivery.user_id), user, col(Delivery.created_at)
            ),
            realtime=[
                ExportRealtime(
                    seq=e.user_seq,
                    event_type=e.event_type,
                    event_id=e.event_id,
                    created_at=e.created_at,
                )
                for e in logged
            ],
            alerts=await _owned(
                session,
                ExportReceipt,
                AlertReceipt,
                col(AlertReceipt.user_id),
                user,
                col(AlertReceipt.created_at),
            ),
        ),
    )


def write_zip(export: Export, photos: list[Media], load: Callable[[str], bytes]) -> IO[bytes]:
    """The export as `export.json` and its photos under `photos/`, in a temporary file
    (in memory while small), rewound. Blocking: run it in a thread."""
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned open
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export.json", export.model_dump_json(indent=2))
        for media in photos:
            try:
                data = load(media.storage_key)
            except FileNotFoundError:
                continue  # listed in export.json; its file is gone from the store
            # Photos are compressed already: stored, not deflated again.
            archive.writestr(photo_file(media), data, compress_type=zipfile.ZIP_STORED)
    out.seek(0)
    return out
