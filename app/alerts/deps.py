from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from app.alerts import service
from app.alerts.models import Alert
from app.auth.deps import CurrentUser
from app.db import SessionDep


async def get_alert_from_path(alert_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Alert:
    return await service.load_alert(session, user, alert_id)


AlertFromPath = Annotated[Alert, Depends(get_alert_from_path)]
