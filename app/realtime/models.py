from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class LoggedEvent(Base):
    """One event for one user, in the order the user is to see it.

    `seq` only grows (SQLite's AUTOINCREMENT never reuses a pruned number; writers take a
    lock on PostgreSQL so rows commit in seq order) and is what a WebSocket client
    resumes from. Rows older than the retention period are pruned. What the event says
    is stored once, on its outbox row (`OutboxEvent.realtime`), not once per user.
    """

    __tablename__ = "event_log"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id"),
        Index("ix_event_log_user_id_seq", "user_id", "seq"),
        Index("ix_event_log_created_at", "created_at"),
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # the outbox event it came from
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
