from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONDoc, UTCDateTime, new_id, utcnow


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


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (Index("ix_groups_created_at_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(String(2000))
    # The area as the coordinator drew it (GeoJSON); its shape is also in the GeoIndex.
    area: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    visibility: Mapped[str] = mapped_column(String(16))
    join_policy: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verification: Mapped[str] = mapped_column(
        String(16), default=Verification.unverified.value, server_default="unverified"
    )
    # Reports submitted since then are moderated by the group's coordinators.
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VerificationRequest(Base):
    """An owner's request to have their group vetted; closed by the decision on it."""

    __tablename__ = "verification_requests"
    __table_args__ = (Index("ix_verification_requests_group_id", "group_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    message: Mapped[str | None] = mapped_column(String(2000))
    # Set while nobody has decided on it; cleared by the decision (so at most one open).
    open: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VerificationDecision(Base):
    """Who decided what about a group's verification, when, and why (the audit trail)."""

    __tablename__ = "verification_decisions"
    __table_args__ = (Index("ix_verification_decisions_group_id", "group_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("verification_requests.id", ondelete="SET NULL")
    )
    # None: an operator with `nwatch verify-group`.
    decided_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    decision: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (Index("ix_memberships_user_id", "user_id"),)

    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), default=GroupRole.member.value)
    status: Mapped[str] = mapped_column(String(16))
    message: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Invitation(Base):
    __tablename__ = "invitations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(32), unique=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
