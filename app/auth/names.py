"""Display names by account id: how one person is shown to others (never an email)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.models import User


async def display_names(
    session: AsyncSession, ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, str]:
    wanted = [i for i in set(ids) if i is not None]
    if not wanted:
        return {}
    rows = await session.execute(
        select(col(User.id), col(User.display_name)).where(col(User.id).in_(wanted))
    )
    return {user_id: name for user_id, name in rows.all()}
