"""What an API client with `alerts:write` may issue, and which alerts it manages.

A client issues as an agency does: public alerts (never a group's, never through one),
any severity, down to the 25 m minimum, inside its jurisdiction (403 outside, as for an
officer). A client without a jurisdiction is an admin's by construction (an officer's
client always gets one, `app.auth.clients`): it issues anywhere, as an admin may. The
alert is shown under the client's name with the kind `agency` and no issuing user, and
records the client (`issued_by_client_id`); recipients and pushes are an agency alert's.
A client updates and cancels its own alerts only; any other is 404 to it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.models import Alert
from app.auth.models import ApiClient
from app.geo.shapes import Shape, contains, from_geojson
from app.geo.validation import AreaLimits, checked_area
from app.problems import forbidden, invalid, not_found


def check_in_jurisdiction(client: ApiClient, shape: Shape) -> None:
    if client.jurisdiction is not None and not contains(from_geojson(client.jurisdiction), shape):
        raise forbidden("The alert area lies outside the API client's jurisdiction.")


def authorise_client(
    client: ApiClient, group_id: uuid.UUID | None, area: Any, limits: AreaLimits
) -> tuple[str, dict[str, Any], Shape]:
    """The issuer kind, area and shape of a client's new alert, if it may issue it."""
    if group_id is not None:
        raise forbidden("An API client issues public alerts, as an agency: not a group's.")
    if area is None:
        raise invalid("area", "is required for an alert outside a group")
    shape = checked_area("area", area, limits)
    check_in_jurisdiction(client, shape)
    return "agency", area.model_dump(), shape


async def load_client_alert(session: AsyncSession, client: ApiClient, alert_id: uuid.UUID) -> Alert:
    """One of the client's own alerts (any version), to update or cancel."""
    alert = await session.get(Alert, alert_id)
    if alert is None or alert.issued_by_client_id != client.id:
        raise not_found("alert")
    return alert
