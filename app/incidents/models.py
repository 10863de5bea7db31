from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field

from app.db import TableModel, UTCDateTime, created_now, new_id, updated_now


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


class Incident(TableModel, table=True):
    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_reported_at_id", "reported_at", "id"),
        Index("ix_incidents_reporter_id", "reporter_id"),
        # What non-moderators' area filters and statistics search (app.incidents.service).
        Index("ix_incidents_snapped_lat", "snapped_lat", "snapped_lon"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    reporter_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    category: str = Field(max_length=32)
    description: str = Field(max_length=4000)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    reported_at: datetime = created_now()
    lon: float
    lat: float
    accuracy_m: float | None = None
    # The point everyone but the reporter and moderators sees (app.geo.privacy.snap).
    snapped_lon: float
    snapped_lat: float
    anonymous: bool = True
    status: str = Field(default=IncidentStatus.submitted.value, max_length=16)
    police_reference: str | None = Field(default=None, max_length=64)
    updated_at: datetime = updated_now()


class StatusChange(TableModel, table=True):
    __tablename__ = "incident_status_changes"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    incident_id: uuid.UUID = Field(foreign_key="incidents.id", ondelete="CASCADE", index=True)
    from_status: str = Field(max_length=16)
    to_status: str = Field(max_length=16)
    actor_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    note: str | None = Field(default=None, max_length=2000)
    police_reference: str | None = Field(default=None, max_length=64)
    created_at: datetime = created_now()


class IncidentUpdate(TableModel, table=True):
    """A sighting or follow-up added by someone who can see the incident."""

    __tablename__ = "incident_updates"
    __table_args__ = (
        Index("ix_incident_updates_incident_id_created_at", "incident_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    incident_id: uuid.UUID = Field(foreign_key="incidents.id", ondelete="CASCADE")
    author_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    text: str = Field(max_length=2000)
    created_at: datetime = created_now()


class IncidentCluster(TableModel, table=True):
    """Reports corroborating each other (app.incidents.clusters): a cluster exists from
    its second report on; a report alone belongs to none."""

    __tablename__ = "incident_clusters"
    __table_args__ = (Index("ix_incident_clusters_created_at_id", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    category: str = Field(max_length=32)
    # Decides which cluster survives a merge: the oldest (then the smallest id).
    created_at: datetime = created_now()
    updated_at: datetime = updated_now()


class ClusterMember(TableModel, table=True):
    __tablename__ = "incident_cluster_members"

    incident_id: uuid.UUID = Field(foreign_key="incidents.id", ondelete="CASCADE", primary_key=True)
    cluster_id: uuid.UUID = Field(
        foreign_key="incident_clusters.id", ondelete="CASCADE", index=True
    )
