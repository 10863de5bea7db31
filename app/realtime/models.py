from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, UniqueConstraint
from sqlmodel import Field

from app.db import TableModel, created_now


class LoggedEvent(TableModel, table=True):
    """One event for one user, in the order the user is to see it.

    Two numbers. `seq` orders everyone's rows: it only grows (SQLite's AUTOINCREMENT
    never reuses a pruned number; writers take a lock on PostgreSQL so rows commit in
    seq order), and API processes tail the log by it. It is internal: the gap between
    two of a user's own rows would count the events everyone else got in between (an
    alert's reach). `user_seq` numbers each user's rows 1, 2, 3… in the same order; it
    is the only number a client sees (frames, pushes, `resume since`). Rows older than
    the retention period are pruned, all but each user's newest, so that no user's
    numbering ever starts again. What the event says is stored once, on its outbox row
    (`OutboxEvent.realtime`), not once per user.
    """

    __tablename__ = "event_log"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id"),
        UniqueConstraint("user_id", "user_seq"),  # also the index of replays and resumes
        Index("ix_event_log_created_at", "created_at"),
        {"sqlite_autoincrement": True},
    )

    seq: int = Field(
        primary_key=True,
        sa_type=BigInteger().with_variant(Integer, "sqlite"),
        sa_column_kwargs={"autoincrement": True},
    )
    event_id: uuid.UUID  # the outbox event it came from
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    user_seq: int = Field(sa_type=BigInteger().with_variant(Integer, "sqlite"))
    event_type: str = Field(max_length=64)
    created_at: datetime = created_now()
