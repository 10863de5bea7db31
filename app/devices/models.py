from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field

from app.db import TableModel, UTCDateTime, created_now, new_id, utcnow


class Platform(StrEnum):
    android = "android"
    ios = "ios"
    web = "web"


class Device(TableModel, table=True):
    __tablename__ = "devices"
    __table_args__ = (Index("ix_devices_user_id_created_at", "user_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    fcm_token: str = Field(max_length=1024, unique=True)
    platform: str = Field(max_length=16)
    app_version: str | None = Field(default=None, max_length=32)
    locale: str | None = Field(default=None, max_length=35)
    # False once FCM has said the token is dead; re-registering revives it.
    active: bool = True
    created_at: datetime = created_now()
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deactivated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
