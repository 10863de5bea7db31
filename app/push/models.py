from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONDoc, UTCDateTime, new_id, utcnow


class OutboxEvent(Base):
    """A side effect to carry out, written in the transaction of the change that caused it.

    The dispatcher claims pending rows (`available_at` reached, lease expired), resolves
    recipients and delivers; a crash loses nothing because the row stays until done.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_available_at", "state", "available_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The push as rendered when the event was expanded (title, body, data, severity,
    # collapse key, expiry): once per event, not once per device.
    message: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    # What WebSocket clients are sent (`data` of the event frame), once per event.
    realtime: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)


class Delivery(Base):
    """One push to one device for one event version. The delivery key makes it unique, so
    re-expanding an event after a crash never creates a second delivery."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_deliveries_subject_id", "subject_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    delivery_key: Mapped[str] = mapped_column(String(200), unique=True)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(64))
    # What the push is about (an alert's chain id, an incident id, a group id), for stats.
    subject_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    device_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL")
    )
    silent: Mapped[bool] = mapped_column(Boolean, default=False)
    # The recipient's own event-log seq for this event (`LoggedEvent.user_seq`, never the
    # global one), sent in the push's data so that the app can resume its WebSocket from
    # there.
    seq: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
