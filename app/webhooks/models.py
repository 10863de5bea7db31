from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field

from app.db import JSONDoc, TableModel, UTCDateTime, created_now, new_id, utcnow


class WebhookSubscription(TableModel, table=True):
    """An API client's endpoint and the events it is sent.

    The signing secret is kept as given to the client (`whsec_…`): an HMAC is made
    with the key itself, so unlike a password it cannot be stored as a hash.
    """

    __tablename__ = "webhook_subscriptions"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    # A revoked client's subscriptions are disabled (app.webhooks.fanout); a deleted
    # client's go with it.
    client_id: uuid.UUID = Field(foreign_key="api_clients.id", ondelete="CASCADE", index=True)
    url: str = Field(max_length=2048)
    events: list[str] = Field(sa_type=JSONDoc)
    description: str | None = Field(default=None, max_length=200)
    secret: str = Field(max_length=64)
    # The secret a rotation replaced: it signs beside the new one until it expires.
    previous_secret: str | None = Field(default=None, max_length=64)
    previous_secret_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    enabled: bool = True
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    disabled_reason: str | None = Field(default=None, sa_type=Text)
    # Since when every attempt has failed (None: the last one succeeded, or none yet).
    failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_now()
    updated_at: datetime = created_now()
    rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookMessage(TableModel, table=True):
    """The exact body of one webhook event, signed and sent to every subscription that
    gets it: rendered once per event. Its id is the outbox event's, so that expanding an
    event again writes nothing twice; a ping has an id of its own."""

    __tablename__ = "webhook_messages"

    id: uuid.UUID = Field(primary_key=True)
    event_type: str = Field(max_length=64)
    body: str = Field(sa_type=Text)
    created_at: datetime = created_now()


class WebhookDelivery(TableModel, table=True):
    """One message to one subscription: claimed, sent and retried by the webhook channel.
    Its id is the `webhook-id` the receiver sees, the same on every retry."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "message_id"),
        Index("ix_webhook_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription_id_created_at", "subscription_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    subscription_id: uuid.UUID = Field(foreign_key="webhook_subscriptions.id", ondelete="CASCADE")
    message_id: uuid.UUID = Field(foreign_key="webhook_messages.id", ondelete="CASCADE", index=True)
    event_type: str = Field(max_length=64)
    state: str = Field(default="pending", max_length=16)  # pending|sent|failed
    # Attempts in the current series (a redelivery starts a new one): the retry schedule.
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status: int | None = None
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = created_now()
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookAttempt(TableModel, table=True):
    """One HTTP request of a delivery: what the receiver answered, how fast, or why none."""

    __tablename__ = "webhook_attempts"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    delivery_id: uuid.UUID = Field(
        foreign_key="webhook_deliveries.id", ondelete="CASCADE", index=True
    )
    attempted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    status: int | None = None
    latency_ms: int | None = None
    error: str | None = Field(default=None, max_length=500)
