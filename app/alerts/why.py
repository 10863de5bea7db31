"""`why` on an alert: the caller's own receipt, with their places' and groups' names.

A receipt is written when the alert is sent out (push.dispatcher), so it says what was
decided then, against the places and preferences of that moment; labels and names are
read now, so that a place renamed since shows its new name.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.alerts.models import Alert, AlertReceipt, Place
from app.alerts.schemas import QuietHours, Why, WhyGroup, WhyPlace
from app.auth.models import User
from app.groups.models import Group


async def why(session: AsyncSession, user: User, alert: Alert) -> Why | None:
    """None unless `user` is a recipient of this version and it has been sent out."""
    receipt = (
        await session.execute(
            select(AlertReceipt)
            .where(col(AlertReceipt.user_id) == user.id, col(AlertReceipt.alert_id) == alert.id)
            .order_by(col(AlertReceipt.created_at).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if receipt is None:
        return None
    place_ids = [uuid.UUID(p) for p in receipt.place_ids]
    group_ids = [uuid.UUID(g) for g in receipt.group_ids]
    labels: dict[uuid.UUID, str] = {}
    if place_ids:  # only the caller's own, even if an id were somebody else's
        rows = await session.execute(
            select(col(Place.id), col(Place.label)).where(
                col(Place.id).in_(place_ids), col(Place.user_id) == user.id
            )
        )
        labels = {place_id: label for place_id, label in rows.all()}
    names: dict[uuid.UUID, str] = {}
    if group_ids:
        rows = await session.execute(
            select(col(Group.id), col(Group.name)).where(col(Group.id).in_(group_ids))
        )
        names = {group_id: name for group_id, name in rows.all()}
    return Why(
        places=[WhyPlace(id=p, label=labels.get(p)) for p in place_ids],
        groups=[WhyGroup(id=g, name=names.get(g)) for g in group_ids],
        silent=receipt.silent,
        quiet_hours=QuietHours.model_validate(receipt.quiet_hours) if receipt.quiet_hours else None,
        overrode=receipt.overrode,
        decided_at=receipt.created_at,
    )
