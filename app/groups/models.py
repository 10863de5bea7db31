from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field

from app.db import JSONDoc, TableModel, UTCDateTime, created_now, new_id, updated_now


class Visibility(StrEnum):
    public = "public"
    private = "private"


class JoinPolicy(StrEnum):
    open = "open"
    request = "request"
    invite = "invite"


class GroupRole(StrEnum):
    member = "member"
    coordinator = "coordinator"
    owner = "owner"


class MembershipStatus(StrEnum):
    active = "active"
    pending = "pending"
    banned = "banned"


class Verification(StrEnum):
    """Whether an agency officer (or admin) has vetted the group: only a verified group's
    coordinators moderate reports."""

    unverified = "unverified"
    pending = "pending"
    verified = "verified"
    rejected = "rejected"
    suspended = "suspended"


class Decision(StrEnum):
    verified = "verified"
    rejected = "rejected"
    suspended = "suspended"
    # Recorded, never asked for: a verified group's area changed, so it is vetted no more.
    area_changed = "area_changed"


class Group(TableModel, table=True):
    __tablename__ = "groups"
    __table_args__ = (Index("ix_groups_created_at_id", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    # The area as the coordinator drew it (GeoJSON); its shape is also in the GeoIndex.
    area: dict[str, Any] = Field(sa_type=JSONDoc)
    visibility: str = Field(max_length=16)
    join_policy: str = Field(max_length=16)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = created_now()
    updated_at: datetime = updated_now()
    archived_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    verification: str = Field(
        default=Verification.unverified.value,
        max_length=16,
        sa_column_kwargs={"server_default": "unverified"},
    )
    # Reports submitted since then are moderated by the group's coordinators.
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class VerificationRequest(TableModel, table=True):
    """An owner's request to have their group vetted; closed by the decision on it."""

    __tablename__ = "verification_requests"
    __table_args__ = (Index("ix_verification_requests_group_id", "group_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    group_id: uuid.UUID = Field(foreign_key="groups.id", ondelete="CASCADE")
    requested_by: uuid.UUID | None = Field(
        default=None, foreign_key="users.id", ondelete="SET NULL"
    )
    message: str | None = Field(default=None, max_length=2000)
    # Set while nobody has decided on it; cleared by the decision (so at most one open).
    open: bool = True
    created_at: datetime = created_now()


class VerificationDecision(TableModel, table=True):
    """Who decided what about a group's verification, when, and why (the audit trail)."""

    __tablename__ = "verification_decisions"
    __table_args__ = (Index("ix_verification_decisions_group_id", "group_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    group_id: uuid.UUID = Field(foreign_key="groups.id", ondelete="CASCADE")
    request_id: uuid.UUID | None = Field(
        default=None, foreign_key="verification_requests.id", ondelete="SET NULL"
    )
    # None: an operator with `nwatch verify-group`.
    decided_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    decision: str = Field(max_length=16)
    note: str | None = Field(default=None, max_length=2000)
    created_at: datetime = created_now()


class Membership(TableModel, table=True):
    __tablename__ = "memberships"
    __table_args__ = (Index("ix_memberships_user_id", "user_id"),)

    group_id: uuid.UUID = Field(foreign_key="groups.id", ondelete="CASCADE", primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", primary_key=True)
    role: str = Field(default=GroupRole.member.value, max_length=16)
    status: str = Field(max_length=16)
    message: str | None = Field(default=None, max_length=500)
    created_at: datetime = created_now()
    updated_at: datetime = updated_now()


class Invitation(TableModel, table=True):
    __tablename__ = "invitations"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    group_id: uuid.UUID = Field(foreign_key="groups.id", ondelete="CASCADE", index=True)
    code: str = Field(max_length=32, unique=True)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    max_uses: int | None = None
    uses: int = 0
    expires_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = created_now()
