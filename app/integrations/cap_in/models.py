"""CAP sources, the documents read from them, and the ledger of CAP alerts taken in."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field

from app.db import JSONDoc, TableModel, UTCDateTime, created_now, new_id, utcnow


class Outcome(StrEnum):
    """What became of one document read from a source."""

    accepted = "accepted"  # became (a version of) one of our alerts
    duplicate = "duplicate"  # taken in before, from this source or another
    invalid = "invalid"  # unsafe, not well-formed, not CAP 1.2 by the schema
    refused = "refused"  # valid, but the source's trust or our rules refuse it
    ignored = "ignored"  # valid, and not for us: not Actual, not Public, an Ack…
    unsupported = "unsupported"  # valid, but we cannot map it (geocode-only areas)


class CapSource(TableModel, table=True):
    """An agency's feed: an Atom or RSS index of CAP documents, or one CAP document."""

    __tablename__ = "cap_sources"
    __table_args__ = (Index("ix_cap_sources_next_poll_at", "next_poll_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    url: str = Field(max_length=2000, unique=True)
    name: str = Field(max_length=80)
    # The officer its alerts are issued as (their jurisdiction bounds them); None: the
    # system account (app.integrations.cap_in.ingest.SYSTEM_EMAIL). CASCADE: an erased
    # officer's feed goes with them, rather than carrying on as the system account.
    agency_user_id: uuid.UUID | None = Field(
        default=None, foreign_key="users.id", ondelete="CASCADE", index=True
    )
    trust_sender: str = Field(max_length=255)
    allowed_area: dict[str, Any] | None = Field(default=None, sa_type=JSONDoc)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = created_now()
    # Polling: due at next_poll_at; a poller holds it until lease_until.
    next_poll_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    etag: str | None = Field(default=None, max_length=512)
    last_modified: str | None = Field(default=None, max_length=64)
    last_polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status: int | None = None  # the HTTP status of the last answer
    last_error: str | None = Field(default=None, sa_type=Text)
    failures: int = 0  # in a row, since the last success


class CapDocument(TableModel, table=True):
    """One document read from a source and what became of it: the admin's log. Each
    document (by its bytes) is logged once per source."""

    __tablename__ = "cap_documents"
    __table_args__ = (
        UniqueConstraint("source_id", "digest"),
        Index("ix_cap_documents_source_id_received_at", "source_id", "received_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    source_id: uuid.UUID = Field(foreign_key="cap_sources.id", ondelete="CASCADE")
    url: str = Field(max_length=2000)
    digest: str = Field(max_length=64)  # SHA-256 of the bytes
    identifier: str | None = Field(default=None, max_length=255)
    sender: str | None = Field(default=None, max_length=255)
    sent: datetime | None = Field(default=None, sa_type=UTCDateTime)
    msg_type: str | None = Field(default=None, max_length=16)
    outcome: str = Field(max_length=16)
    reason: str | None = Field(default=None, sa_type=Text)
    alert_id: uuid.UUID | None = Field(default=None, foreign_key="alerts.id", ondelete="SET NULL")
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CapAlertKey(TableModel, table=True):
    """A CAP alert taken in, by CAP's own key (identifier, sender, sent): the same
    document seen twice, or through two sources, becomes one alert; and an Update or a
    Cancel finds the alert it references here."""

    __tablename__ = "cap_alert_keys"
    __table_args__ = (UniqueConstraint("identifier", "sender", "sent"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    identifier: str = Field(max_length=255)
    sender: str = Field(max_length=255)
    sent: datetime = Field(sa_type=UTCDateTime)
    alert_id: uuid.UUID | None = Field(
        default=None, foreign_key="alerts.id", ondelete="CASCADE", index=True
    )
    source_id: uuid.UUID | None = Field(
        default=None, foreign_key="cap_sources.id", ondelete="SET NULL", index=True
    )
    created_at: datetime = created_now()
