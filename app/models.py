"""Every domain's tables, imported in one place for Alembic and the tests."""

from app.alerts.models import Ack, AckAction, Alert, Place, Preferences
from app.auth.models import ApiClient, RefreshToken, User
from app.db import TableModel
from app.devices.models import Device
from app.evidence.models import EvidenceCheck, PoliceCrime, PreventionAction
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
from app.incidents.models import (
    ClusterMember,
    Incident,
    IncidentCluster,
    IncidentUpdate,
    StatusChange,
)
from app.integrations.cap_in.models import CapAlertKey, CapDocument, CapSource
from app.integrations.open311.models import Open311Contact
from app.outbox.models import OutboxEvent
from app.privacy.models import Erasure
from app.push.models import Delivery
from app.realtime.models import LoggedEvent
from app.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookMessage,
    WebhookSubscription,
)

__all__ = [
    "Ack",
    "AckAction",
    "Alert",
    "ApiClient",
    "CapAlertKey",
    "CapDocument",
    "CapSource",
    "ClusterMember",
    "Delivery",
    "Device",
    "Erasure",
    "EvidenceCheck",
    "GeoEntry",
    "Group",
    "IdempotencyRecord",
    "Incident",
    "IncidentCluster",
    "IncidentUpdate",
    "Invitation",
    "LoggedEvent",
    "Media",
    "Membership",
    "Open311Contact",
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
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookMessage",
    "WebhookSubscription",
]
