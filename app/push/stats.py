"""What the push channel can tell an alert's statistics: its deliveries by state.

The alerts domain does not import a channel (DESIGN §3); app.main hands it this
function as `app.state.push_counts`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.push.models import Delivery

_DELIVERIES = Delivery.__table__


async def push_counts(session: AsyncSession, chain_id: uuid.UUID) -> Mapping[str, int]:
    """Deliveries of the alert chain's pushes, counted by state (pending, sent, failed)."""
    c = _DELIVERIES.c
    rows = await session.execute(
        select(c.state, func.count())
        .where(c.subject_id == chain_id, c.event_type.like("alert.%"))
        .group_by(c.state)
    )
    return {state: int(count) for state, count in rows.all()}
