from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, new_id, utcnow


class IncidentStatus(StrEnum):
    submitted = "submitted"
    verified = "verified"
    rejected = "rejected"
    forwarded = "forwarded"
    resolved = "resolved"


# The moderation state machine: anything not listed here is a 409.
TRANSITIONS: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    IncidentStatus.submitted: frozenset({IncidentStatus.verified, IncidentStatus.rejected}),
    IncidentStatus.verified: frozenset({IncidentStatus.forwarded, IncidentStatus.resolved}),
    IncidentStatus.forwarded: frozenset({IncidentStatus.resolved}),
    IncidentStatus.rejected: frozenset(),
    IncidentStatus.resolved: frozenset(),
}


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_reported_at_id", "reported_at", "id"),
        Index("ix_incidents_reporter_id", "reporter_id"),
        # What non-moderators' area filters and statistics search (app.incidents.service).
        Index("ix_incidents_snapped_lat", "snapped_lat", "snapped_lon"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    reporter_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    category: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(String(4000))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    # The point everyone but the reporter and moderators sees (app.geo.privacy.snap).
    snapped_lon: Mapped[float] = mapped_column(Float)
    snapped_lat: Mapped[float] = mapped_column(Float)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default=IncidentStatus.submitted.value)
    police_reference: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class StatusChange(Base):
    __tablename__ = "incident_status_changes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(String(2000))
    police_reference: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IncidentUpdate(Base):
    """A sighting or follow-up added by someone who can see the incident."""

    __tablename__ = "incident_updates"
    __table_args__ = (
        Index("ix_incident_updates_incident_id_created_at", "incident_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
