from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONDoc, UTCDateTime, new_id, utcnow


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


class Place(Base):
    """A point and radius a resident watches; visible to that resident alone."""

    __tablename__ = "places"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(80))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    radius_m: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Preferences(Base):
    __tablename__ = "preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    muted_categories: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    min_severity: Mapped[str] = mapped_column(String(16), default=Severity.minor.value)
    quiet_start: Mapped[str | None] = mapped_column(String(5))  # "HH:MM"
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    quiet_timezone: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Alert(Base):
    """One version of an alert. Updates and cancels are new rows referencing the previous."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_issuer_id_issued_at", "issuer_id", "issued_at"),
        Index("ix_alerts_chain_id", "chain_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    chain_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # the first version's id
    version: Mapped[int] = mapped_column(Integer, default=1)
    previous_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alerts.id"))
    msg_type: Mapped[str] = mapped_column(String(8), default=MsgType.alert.value)
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(String(4000))
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    urgency: Mapped[str] = mapped_column(String(16))
    certainty: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    area: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    group_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("groups.id", ondelete="SET NULL"), index=True
    )
    issuer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    issuer_kind: Mapped[str] = mapped_column(String(16))  # coordinator | agency | admin
    issuer_name: Mapped[str] = mapped_column(String(80))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when a newer version (update or cancel) replaces this one.
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Ack(Base):
    __tablename__ = "alert_acks"
    __table_args__ = (UniqueConstraint("chain_id", "user_id", "kind"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    chain_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
