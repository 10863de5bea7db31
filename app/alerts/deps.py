from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from app.alerts import service
from app.alerts.client_reads import load_alert_for_client
from app.alerts.client_writes import load_client_alert
from app.alerts.models import Alert
from app.auth.client_deps import AlertsReader, AlertsWriter
from app.auth.deps import CurrentUser
from app.auth.models import User
from app.db import SessionDep


async def get_alert_from_path(alert_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Alert:
    return await service.load_alert(session, user, alert_id)


AlertFromPath = Annotated[Alert, Depends(get_alert_from_path)]


async def get_readable_alert(
    alert_id: uuid.UUID, caller: AlertsReader, session: SessionDep
) -> Alert:
    """The alert for a user who may read it, or an API client with `alerts:read`."""
    if isinstance(caller, User):
        return await service.load_alert(session, caller, alert_id)
    return await load_alert_for_client(session, caller.client, alert_id)


ReadableAlert = Annotated[Alert, Depends(get_readable_alert)]


async def get_writable_alert(
    alert_id: uuid.UUID, caller: AlertsWriter, session: SessionDep
) -> Alert:
    """The alert for a user who may read it (the service decides whether they manage
    it), or one an API client with `alerts:write` issued itself."""
    if isinstance(caller, User):
        return await service.load_alert(session, caller, alert_id)
    return await load_client_alert(session, caller.client, alert_id)


WritableAlert = Annotated[Alert, Depends(get_writable_alert)]
