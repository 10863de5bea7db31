from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlmodel import Field

from app.db import TableModel, created_now, new_id


class ErasedBy(StrEnum):
    self = "self"
    admin = "admin"


class Erasure(TableModel, table=True):
    """That an account was erased, when and on whose request: what the service keeps to
    show it answered the request, with nothing of the person in it (not even their id)."""

    __tablename__ = "erasures"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    requested_by: str = Field(max_length=8)  # ErasedBy
    # The admin who erased someone else's account (staff, not the erased person).
    admin_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = created_now()
