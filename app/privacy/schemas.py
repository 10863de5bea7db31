"""The export document and the erasure request.

The export is what the service holds about one person, in the shape they can read and
take elsewhere (UK GDPR art. 15 and 20). It holds nothing of anyone else: not who
moderated their reports, not other people's updates, never a password hash or a token
of ours (push tokens are theirs: the phone made them).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from app.alerts.schemas import AlertRead
from app.geo.schemas import JurisdictionArea, PointGeometry
from app.schemas import RequestModel, ResponseModel


class EraseRequest(RequestModel):
    """Who is asking, proven again: the account's password, or for an account that
    signs in with Firebase only, a fresh Firebase ID token. For an admin erasing someone
    else's account: the admin's own."""

    password: (
        Annotated[str, StringConstraints(strip_whitespace=False, min_length=1, max_length=256)]
        | None
    ) = None
    firebase_id_token: Annotated[str, Field(min_length=1, max_length=8192)] | None = None

    @model_validator(mode="after")
    def _one(self) -> EraseRequest:
        if (self.password is None) == (self.firebase_id_token is None):
            raise ValueError("give either password or firebase_id_token")
        return self


class ExportAccount(ResponseModel):
    id: uuid.UUID
    email: str
    display_name: str
    role: str
    locale: str | None
    timezone: str | None
    jurisdiction: JurisdictionArea | None
    firebase_uid: str | None = Field(description="The linked Firebase Auth user, if any")
    created_at: datetime
    updated_at: datetime


class ExportSession(ResponseModel):
    """One sign-in (a refresh-token family): when it began and was last used."""

    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class ExportDevice(ResponseModel):
    id: uuid.UUID
    fcm_token: str
    platform: str
    app_version: str | None
    locale: str | None
    active: bool
    created_at: datetime
    last_seen_at: datetime
    deactivated_at: datetime | None


class ExportPlace(ResponseModel):
    id: uuid.UUID
    label: str
    location: PointGeometry = Field(description="Exact")
    radius_m: float
    created_at: datetime
    updated_at: datetime


class ExportPreferences(ResponseModel):
    muted_categories: list[str]
    min_severity: str
    quiet_start: str | None
    quiet_end: str | None
    quiet_timezone: str | None
    updated_at: datetime


class ExportMembership(ResponseModel):
    group_id: uuid.UUID
    group_name: str
    role: str
    status: str
    message: str | None
    created_at: datetime


class ExportInvitation(ResponseModel):
    id: uuid.UUID
    group_id: uuid.UUID
    max_uses: int | None
    uses: int
    expires_at: datetime
    created_at: datetime


class ExportApiClient(ResponseModel):
    """An API client the person made (its secret is never kept, so never exported)."""

    id: uuid.UUID
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class ExportVerificationRequest(ResponseModel):
    id: uuid.UUID
    group_id: uuid.UUID
    message: str | None
    open: bool
    created_at: datetime


class ExportStatusChange(ResponseModel):
    """A change of one of their reports' status (who made it is not theirs to know)."""

    from_status: str
    to_status: str
    note: str | None
    police_reference: str | None
    created_at: datetime


class ExportPhoto(ResponseModel):
    id: uuid.UUID
    incident_id: uuid.UUID
    content_type: str
    size: int
    width: int
    height: int
    url: str
    file: str = Field(description="Its path inside the ZIP export")
    created_at: datetime


class ExportReport(ResponseModel):
    id: uuid.UUID
    category: str
    description: str
    occurred_at: datetime
    reported_at: datetime
    location: PointGeometry = Field(description="Exact (as kept)")
    location_shown: PointGeometry = Field(description="The snapped point others see")
    accuracy_m: float | None
    anonymous: bool
    status: str
    police_reference: str | None
    history: list[ExportStatusChange]


class ExportUpdate(ResponseModel):
    id: uuid.UUID
    incident_id: uuid.UUID
    text: str
    created_at: datetime


class ExportTakenAction(ResponseModel):
    action_id: uuid.UUID | None = Field(description="From the prevention library; else null")
    text: str


class ExportAck(ResponseModel):
    alert_id: uuid.UUID
    chain_id: uuid.UUID
    kind: str
    actions: list[ExportTakenAction] = Field(
        description="With `acted`: the alert's actions they said they took"
    )
    created_at: datetime


class ExportPush(ResponseModel):
    """One push to one of their phones."""

    event_type: str
    subject_id: uuid.UUID | None = Field(description="What it was about (an alert's chain id…)")
    device_id: uuid.UUID | None
    silent: bool
    state: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None


class ExportRealtime(ResponseModel):
    """One event for them on the realtime channel (WebSocket), as `seq` numbers it."""

    seq: int
    event_type: str
    event_id: uuid.UUID
    created_at: datetime


class ExportReceipt(ResponseModel):
    """Why an alert reached them, as decided when it was sent (the `why` of the alert)."""

    alert_id: uuid.UUID
    chain_id: uuid.UUID
    silent: bool
    place_ids: list[uuid.UUID]
    group_ids: list[uuid.UUID]
    quiet_hours: dict[str, str] | None
    overrode: list[str]
    created_at: datetime


class ExportDeliveries(ResponseModel):
    push: list[ExportPush]
    realtime: list[ExportRealtime]
    alerts: list[ExportReceipt] = Field(description="The alerts sent to them, and why")


class Export(ResponseModel):
    """Everything Neighbourwatch holds about one person."""

    format: Literal["neighbourwatch-export/1"] = "neighbourwatch-export/1"
    generated_at: datetime
    account: ExportAccount
    sessions: list[ExportSession]
    devices: list[ExportDevice]
    places: list[ExportPlace]
    preferences: ExportPreferences | None
    memberships: list[ExportMembership]
    invitations: list[ExportInvitation]
    api_clients: list[ExportApiClient] = Field(description="API clients the person made")
    verification_requests: list[ExportVerificationRequest]
    reports: list[ExportReport]
    updates: list[ExportUpdate]
    photos: list[ExportPhoto]
    acknowledgements: list[ExportAck]
    alerts_issued: list[AlertRead]
    deliveries: ExportDeliveries
