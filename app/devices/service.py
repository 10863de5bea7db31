"""Device rules: a token belongs to one user at a time, and only they see it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.models import User
from app.db import utcnow
from app.devices.models import Device
from app.devices.schemas import DeviceRead, DeviceRegister
from app.pagination import Page, chunks, newest_first, page_of
from app.problems import not_found


async def _by_token(session: AsyncSession, token: str) -> Device | None:
    result = await session.execute(select(Device).where(col(Device.fcm_token) == token))
    return result.scalar_one_or_none()


async def register_device(
    session: AsyncSession, user: User, data: DeviceRegister, max_active: int
) -> tuple[Device, bool]:
    """Register or refresh a push token. Returns the device and whether it is new to the user.

    A token last registered by someone else (a phone handed on, an account switch)
    moves to the caller as a new device: nothing of the previous owner's carries over.
    A user keeps at most `max_active` active devices: beyond, the least recently seen
    are deactivated (as FCM's dead tokens are; registering one again revives it).
    """
    device, created = await _register(session, user, data)
    await _deactivate_beyond(session, user, device, max_active)
    return device, created


async def _deactivate_beyond(
    session: AsyncSession, user: User, keep: Device, max_active: int
) -> None:
    active = await session.execute(
        select(col(Device.id))
        .where(
            col(Device.user_id) == user.id, col(Device.active).is_(True), col(Device.id) != keep.id
        )
        .order_by(
            col(Device.last_seen_at).desc(), col(Device.created_at).desc(), col(Device.id).desc()
        )
        .offset(max_active - 1)
    )
    beyond = list(active.scalars())
    if beyond:
        await session.execute(
            update(Device)
            .where(col(Device.id).in_(beyond))
            .values(active=False, deactivated_at=utcnow())
            .execution_options(synchronize_session=False)
        )


async def _register(
    session: AsyncSession, user: User, data: DeviceRegister, *, _retry: bool = True
) -> tuple[Device, bool]:
    existing = await _by_token(session, data.fcm_token)
    now = utcnow()
    if existing is not None and existing.user_id == user.id:
        existing.platform = data.platform.value
        existing.app_version = data.app_version
        existing.locale = data.locale
        existing.active = True
        existing.deactivated_at = None
        existing.last_seen_at = now
        await session.flush()
        return existing, False
    if existing is not None:
        await session.delete(existing)
        await session.flush()
    device = Device(
        user_id=user.id,
        fcm_token=data.fcm_token,
        platform=data.platform.value,
        app_version=data.app_version,
        locale=data.locale,
        created_at=now,
        last_seen_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(device)
    except IntegrityError:
        # Registered concurrently (the app retried): take the row that won.
        if not _retry:
            raise
        return await _register(session, user, data, _retry=False)
    return device, True


async def list_devices(
    session: AsyncSession, user: User, limit: int, cursor: str | None
) -> Page[DeviceRead]:
    stmt = newest_first(
        select(Device).where(col(Device.user_id) == user.id),
        col(Device.created_at),
        col(Device.id),
        cursor,
        limit,
    )
    rows = (await session.execute(stmt)).scalars().all()
    return page_of(rows, limit, lambda d: (d.created_at, d.id), DeviceRead.model_validate)


async def delete_device(session: AsyncSession, user: User, device_id: uuid.UUID) -> None:
    result = await session.execute(
        delete(Device).where(col(Device.id) == device_id, col(Device.user_id) == user.id)
    )
    # Another user's device answers exactly like a device that does not exist.
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise not_found("device")


async def active_devices(
    session: AsyncSession, user_ids: Iterable[uuid.UUID]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(device id, user id) of every active device of these users (for the push
    dispatcher: ids only, as an alert may reach a hundred thousand devices)."""
    devices: list[tuple[uuid.UUID, uuid.UUID]] = []
    for batch in chunks(user_ids):
        rows = await session.execute(
            select(col(Device.id), col(Device.user_id)).where(
                col(Device.user_id).in_(batch), col(Device.active).is_(True)
            )
        )
        devices += [(device_id, user_id) for device_id, user_id in rows.all()]
    return devices
