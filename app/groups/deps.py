from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from app.auth.deps import CurrentUser
from app.db import SessionDep
from app.groups import service
from app.groups.service import GroupAccess


async def get_group_from_path(
    group_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> GroupAccess:
    return await service.load_group(session, group_id, user)


GroupFromPath = Annotated[GroupAccess, Depends(get_group_from_path)]
