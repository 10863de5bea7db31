"""Every domain's tables, imported in one place for Alembic and the tests."""

from app.alerts.models import Ack, AckAction, Alert, Place, Preferences
from app.auth.models import ApiClient, RefreshToken, User
from app.db import TableModel
from app.devices.models import Device
from app.evidence.models import PoliceCrime, PreventionAction
from app.geo.models import GeoEntry
from app.groups.models import (
    Group,
    Invitation,
    Membership,
    VerificationDecision,
    VerificationRequest,
)
from app.idempotency import IdempotencyRecord
from app.incidents.media import Media
from app.incidents.models import Incident, IncidentUpdate, StatusChange
from app.outbox.models import OutboxEvent
from app.privacy.models import Erasure
from app.push.models import Delivery
from app.realtime.models import LoggedEvent

__all__ = [
    "Ack",
    "AckAction",
    "Alert",
    "ApiClient",
    "Delivery",
    "Device",
    "Erasure",
    "GeoEntry",
    "Group",
    "IdempotencyRecord",
    "Incident",
    "IncidentUpdate",
    "Invitation",
    "LoggedEvent",
    "Media",
    "Membership",
    "OutboxEvent",
    "Place",
    "PoliceCrime",
    "Preferences",
    "PreventionAction",
    "RefreshToken",
    "StatusChange",
    "TableModel",
    "User",
    "VerificationDecision",
    "VerificationRequest",
]
