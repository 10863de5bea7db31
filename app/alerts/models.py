from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from app.db import JSONDoc, TableModel, UTCDateTime, created_now, new_id, updated_now, utcnow


class Severity(StrEnum):
    minor = "minor"
    moderate = "moderate"
    severe = "severe"
    extreme = "extreme"


SEVERITY_RANK = {Severity.minor: 0, Severity.moderate: 1, Severity.severe: 2, Severity.extreme: 3}


class Urgency(StrEnum):
    immediate = "immediate"
    expected = "expected"
    future = "future"
    past = "past"
    unknown = "unknown"


class Certainty(StrEnum):
    observed = "observed"
    likely = "likely"
    possible = "possible"
    unlikely = "unlikely"
    unknown = "unknown"


class AlertStatus(StrEnum):
    actual = "actual"
    exercise = "exercise"
    test = "test"


class MsgType(StrEnum):
    alert = "alert"
    update = "update"
    cancel = "cancel"


class AckKind(StrEnum):
    seen = "seen"
    acted = "acted"
    dismissed = "dismissed"


class Place(TableModel, table=True):
    """A point and radius a resident watches; visible to that resident alone."""

    __tablename__ = "places"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    label: str = Field(max_length=80)
    lon: float
    lat: float
    radius_m: float
    created_at: datetime = created_now()
    updated_at: datetime = updated_now()


class Preferences(TableModel, table=True):
    __tablename__ = "preferences"

    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", primary_key=True)
    muted_categories: list[str] = Field(default_factory=list, sa_type=JSONDoc)
    min_severity: str = Field(default=Severity.minor.value, max_length=16)
    quiet_start: str | None = Field(default=None, max_length=5)  # "HH:MM"
    quiet_end: str | None = Field(default=None, max_length=5)
    quiet_timezone: str | None = Field(default=None, max_length=64)
    updated_at: datetime = updated_now()


class Alert(TableModel, table=True):
    """One version of an alert. Updates and cancels are new rows referencing the previous."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_issuer_id_issued_at", "issuer_id", "issued_at"),
        Index("ix_alerts_chain_id", "chain_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    chain_id: uuid.UUID  # the first version's id
    version: int = 1
    previous_id: uuid.UUID | None = Field(default=None, foreign_key="alerts.id")
    msg_type: str = Field(default=MsgType.alert.value, max_length=8)
    title: str = Field(max_length=120)
    body: str = Field(max_length=4000)
    category: str = Field(max_length=32)
    severity: str = Field(max_length=16)
    urgency: str = Field(max_length=16)
    certainty: str = Field(max_length=16)
    status: str = Field(max_length=16)
    area: dict[str, Any] = Field(sa_type=JSONDoc)
    actions: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONDoc)
    group_id: uuid.UUID | None = Field(
        default=None, foreign_key="groups.id", ondelete="SET NULL", index=True
    )
    issuer_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    issuer_kind: str = Field(max_length=16)  # coordinator | agency | admin
    issuer_name: str = Field(max_length=80)
    # An API client's alert (`alerts:write`): issued as an agency, under the client's
    # name, with no issuing user. Only that client (and admins) manage it.
    issued_by_client_id: uuid.UUID | None = Field(
        default=None, foreign_key="api_clients.id", ondelete="SET NULL", index=True
    )
    issued_at: datetime = created_now()
    expires_at: datetime = Field(sa_type=UTCDateTime)
    # Set when a newer version (update or cancel) replaces this one.
    superseded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Ack(TableModel, table=True):
    __tablename__ = "alert_acks"
    __table_args__ = (UniqueConstraint("chain_id", "user_id", "kind"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    chain_id: uuid.UUID = Field(index=True)
    alert_id: uuid.UUID = Field(foreign_key="alerts.id", ondelete="CASCADE")
    # None once its resident's account is erased: the ack still counts, anonymously.
    user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    kind: str = Field(max_length=16)
    created_at: datetime = created_now()


class AckAction(TableModel, table=True):
    """One action a resident said they took, with their `acted` ack: which of the alert's
    actions (`key`: its library id, or its text for a free-text one, so that it is the
    same action in every version of the chain). Anonymous with its ack on erasure."""

    __tablename__ = "alert_ack_actions"
    __table_args__ = (UniqueConstraint("ack_id", "key"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    ack_id: uuid.UUID = Field(foreign_key="alert_acks.id", ondelete="CASCADE")
    chain_id: uuid.UUID = Field(index=True)
    key: str = Field(max_length=210)
    action_id: uuid.UUID | None = None
    text: str = Field(max_length=200)
    created_at: datetime = created_now()


class AlertReceipt(TableModel, table=True):
    """Why one resident got one version of an alert, as decided when it was sent out: the
    `why` of `GET /v1/alerts/{id}`. Theirs alone; kept as long as the delivery log."""

    __tablename__ = "alert_receipts"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id"),
        Index("ix_alert_receipts_user_id_alert_id", "user_id", "alert_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    event_id: uuid.UUID = Field(foreign_key="outbox.id", ondelete="CASCADE")
    alert_id: uuid.UUID = Field(foreign_key="alerts.id", ondelete="CASCADE")
    chain_id: uuid.UUID
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    silent: bool = False
    place_ids: list[str] = Field(default_factory=list, sa_type=JSONDoc)
    group_ids: list[str] = Field(default_factory=list, sa_type=JSONDoc)
    # {"start": "22:00", "end": "07:00", "timezone": "Europe/London"} when they made it silent
    quiet_hours: dict[str, str] | None = Field(default=None, sa_type=JSONDoc)
    overrode: list[str] = Field(default_factory=list, sa_type=JSONDoc)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
