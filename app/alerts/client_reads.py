"""What an API client with `alerts:read` may read.

Public alerts (no group, not a test) that touch its jurisdiction, or any public alert
for a client with no jurisdiction (an admin's, national); and the alerts of the group it
was given, as that group's members see them. "Touch" is what it is for a resident's
place: the alert's area intersects the jurisdiction, so an alert over a whole county is
one for each borough's client in it. A test alert is its issuer's alone, never another
client's. A client with `alerts:write` also reads what it issued itself (`scope=issued`).
Everything else is 404, as it is for a user who may not see it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.alerts.models import Alert, AlertStatus
from app.alerts.schemas import AlertRead
from app.alerts.service import GEO_COLLECTION, page_of_alerts
from app.auth.models import ApiClient
from app.geo.index import index_for
from app.geo.shapes import from_geojson, intersects
from app.pagination import Page
from app.problems import not_found


def client_may_read(client: ApiClient, alert: Alert) -> bool:
    if alert.issued_by_client_id == client.id:
        return True
    if alert.status == AlertStatus.test:
        return False
    if alert.group_id is not None:
        return alert.group_id == client.group_id
    if client.jurisdiction is None:
        return True
    return intersects(from_geojson(client.jurisdiction), from_geojson(alert.area))


async def load_alert_for_client(
    session: AsyncSession, client: ApiClient, alert_id: uuid.UUID
) -> Alert:
    alert = await session.get(Alert, alert_id)
    if alert is None or not client_may_read(client, alert):
        raise not_found("alert")
    return alert


async def list_alerts_for_client(
    session: AsyncSession, client: ApiClient, active: bool | None, limit: int, cursor: str | None
) -> Page[AlertRead]:
    """The current versions of the alerts the client may read."""
    public: ColumnElement[bool] = col(Alert.group_id).is_(None)
    if client.jurisdiction is not None:
        shape = from_geojson(client.jurisdiction)
        touching = await index_for(session).intersecting(session, GEO_COLLECTION, shape)
        public = and_(public, col(Alert.id).in_(touching))
    readable = or_(public, col(Alert.group_id) == client.group_id) if client.group_id else public
    stmt = select(Alert).where(
        col(Alert.superseded_at).is_(None),
        col(Alert.status) != AlertStatus.test.value,
        readable,
    )
    return await page_of_alerts(session, stmt, active, limit, cursor)


async def list_issued_by_client(
    session: AsyncSession, client: ApiClient, active: bool | None, limit: int, cursor: str | None
) -> Page[AlertRead]:
    """The current versions of the alerts the client issued (`alerts:write`)."""
    stmt = select(Alert).where(
        col(Alert.superseded_at).is_(None), col(Alert.issued_by_client_id) == client.id
    )
    return await page_of_alerts(session, stmt, active, limit, cursor)
