"""Request and response models of the webhook endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, field_validator

from app.ratelimit import DAY
from app.schemas import NotNull, RequestModel, ResponseModel
from app.text import Name


class EventType(StrEnum):
    alert_issued = "alert.issued"
    alert_updated = "alert.updated"
    alert_cancelled = "alert.cancelled"
    incident_created = "incident.created"
    incident_status_changed = "incident.status_changed"
    incident_verified = "incident.verified"


PING = "webhook.ping"
MAX_URL = 2048
# How long a rotated secret keeps signing beside the new one.
MAX_GRACE_S = 7 * DAY
DEFAULT_GRACE_S = DAY

WebhookUrl = Annotated[
    str,
    Field(
        min_length=8,
        max_length=MAX_URL,
        pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s]+$",
        description="Where events are POSTed: `https` (plain `http` only where the operator "
        "allows it), a host whose every address is public, no user name or password",
        examples=["https://hooks.example.org/neighbourwatch"],
    ),
]
Events = Annotated[
    list[EventType],
    Field(
        min_length=1,
        max_length=len(EventType),
        description="The events to send: alerts the client may read, reports inside its reach",
        examples=[["alert.issued", "alert.cancelled"]],
    ),
]
Description = Annotated[Name, Field(max_length=200)]


def _once_each(value: list[EventType]) -> list[EventType]:
    order = list(EventType)
    return sorted(set(value), key=order.index)


class WebhookCreate(RequestModel):
    url: WebhookUrl
    events: Events
    description: Description | None = None

    _events = field_validator("events")(_once_each)


class WebhookUpdate(RequestModel):
    url: NotNull[WebhookUrl] = None
    events: NotNull[Events] = None
    description: Description | None = None
    enabled: NotNull[bool] = Field(
        default=None,
        description="`true` enables a disabled subscription again (its URL is checked "
        "again); `false` pauses it",
    )

    @field_validator("events")
    @classmethod
    def _events_once(cls, value: list[EventType] | None) -> list[EventType] | None:
        return None if value is None else _once_each(value)


class WebhookRotate(RequestModel):
    grace_period_s: int = Field(
        default=DEFAULT_GRACE_S,
        ge=0,
        le=MAX_GRACE_S,
        description="Seconds the old secret keeps signing beside the new one (at most seven "
        "days; default one day); 0: none",
    )


class WebhookRead(ResponseModel):
    id: uuid.UUID
    url: str
    events: list[EventType]
    description: str | None = None
    enabled: bool
    disabled_at: datetime | None = None
    disabled_reason: str | None = Field(
        default=None,
        description="Why deliveries stopped: the receiver answered 410 Gone, every attempt "
        "failed for a day, or the client was revoked",
        examples=[None],
    )
    failing_since: datetime | None = Field(
        default=None, description="Since when every attempt has failed"
    )
    created_at: datetime
    rotated_at: datetime | None = None
    previous_secret_expires_at: datetime | None = Field(
        default=None, description="Until when the secret replaced by the last rotation signs"
    )


class WebhookWithSecret(WebhookRead):
    secret: str = Field(
        description="The signing secret, shown this once: `whsec_` and base64, as Standard "
        "Webhooks libraries take it",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class AttemptRead(ResponseModel):
    attempted_at: datetime
    status: int | None = Field(default=None, description="The receiver's HTTP status, if any")
    latency_ms: int | None = None
    error: str | None = Field(
        default=None, description="Why the attempt failed: a timeout, a refused address, …"
    )


class DeliveryRead(ResponseModel):
    id: uuid.UUID
    webhook_id: str = Field(
        description="The `webhook-id` header of this delivery, the same on every attempt",
        examples=["msg_0b6c5e3e8f1a4c399a572f4d1c7e9b10"],
    )
    event_type: str = Field(examples=["alert.issued"])
    state: str = Field(description="pending, sent or failed", examples=["sent"])
    attempts: list[AttemptRead]
    next_attempt_at: datetime | None = Field(
        default=None, description="When it is tried again, while pending"
    )
    last_status: int | None = None
    last_error: str | None = None
    created_at: datetime
    finished_at: datetime | None = None
