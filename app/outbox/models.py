from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Text
from sqlmodel import Field

from app.db import JSONDoc, TableModel, UTCDateTime, created_now, new_id, utcnow


class OutboxEvent(TableModel, table=True):
    """A side effect to carry out, written in the transaction of the change that caused it.

    The dispatcher claims pending rows (`available_at` reached, lease expired), resolves
    recipients and delivers; a crash loses nothing because the row stays until done.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_available_at", "state", "available_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    event_type: str = Field(max_length=64)
    payload: dict[str, Any] = Field(sa_type=JSONDoc)
    state: str = Field(default="pending", max_length=16)
    attempts: int = 0
    created_at: datetime = created_now()
    available_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=Text)
    # The push as rendered when the event was expanded (title, body, data, severity,
    # collapse key, expiry): once per event, not once per device.
    message: dict[str, Any] | None = Field(default=None, sa_type=JSONDoc)
    # What WebSocket clients are sent (`data` of the event frame), once per event.
    realtime: dict[str, Any] | None = Field(default=None, sa_type=JSONDoc)
