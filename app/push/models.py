from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, Text
from sqlmodel import Field

from app.db import TableModel, UTCDateTime, created_now, new_id, utcnow


class Delivery(TableModel, table=True):
    """One push to one device for one event version. The delivery key makes it unique, so
    re-expanding an event after a crash never creates a second delivery."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_deliveries_subject_id", "subject_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    delivery_key: str = Field(max_length=200, unique=True)
    event_id: uuid.UUID = Field(foreign_key="outbox.id", ondelete="CASCADE")  # app.outbox
    event_type: str = Field(max_length=64)
    # What the push is about (an alert's chain id, an incident id, a group id), for stats.
    subject_id: uuid.UUID | None = None
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    device_id: uuid.UUID | None = Field(default=None, foreign_key="devices.id", ondelete="SET NULL")
    silent: bool = False
    # The recipient's own event-log seq for this event (`LoggedEvent.user_seq`, never the
    # global one), sent in the push's data so that the app can resume its WebSocket from
    # there.
    seq: int | None = Field(default=None, sa_type=BigInteger().with_variant(Integer, "sqlite"))
    state: str = Field(default="pending", max_length=16)  # pending|sent|failed
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = created_now()
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
