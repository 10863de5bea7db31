from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from app.geo.schemas import Area
from app.groups.models import (
    Decision,
    GroupRole,
    JoinPolicy,
    MembershipStatus,
    Verification,
    Visibility,
)
from app.schemas import NotNull, RequestModel, ResponseModel
from app.text import LongText, Name

Description = Annotated[LongText, Field(max_length=2000)]
GroupName = Annotated[Name, Field(max_length=120, examples=["Elm Street Watch"])]


class GroupCreate(RequestModel):
    name: GroupName
    description: Description | None = None
    area: Area
    visibility: Visibility = Visibility.public
    join_policy: JoinPolicy = JoinPolicy.open


class GroupUpdate(RequestModel):
    """What changes; a member left out stays as it was. Only `description` may be null
    (removed)."""

    name: NotNull[GroupName] = None
    description: Description | None = None
    area: NotNull[Area] = None
    visibility: NotNull[Visibility] = None
    join_policy: NotNull[JoinPolicy] = None


class GroupRead(ResponseModel):
    id: uuid.UUID
    name: str
    description: str | None
    area: Area
    visibility: Visibility
    join_policy: JoinPolicy
    member_count: int = Field(description="Active members")
    my_role: GroupRole | None = Field(description="The caller's role, if an active member")
    my_status: MembershipStatus | None = Field(description="The caller's membership status")
    verification: Verification = Field(
        description="Only a `verified` group's coordinators moderate reports (those submitted "
        "since `verified_at`) and may issue severe or extreme alerts; a group is `unverified` "
        "when created and again whenever a verified group's area changes"
    )
    verified_at: datetime | None
    created_at: datetime


class JoinRequest(RequestModel):
    message: Annotated[LongText, Field(max_length=500)] | None = None


class MembershipRead(ResponseModel):
    group_id: uuid.UUID
    user_id: uuid.UUID
    role: GroupRole
    status: MembershipStatus
    created_at: datetime


class MyMembershipRead(MembershipRead):
    group: GroupRead


class MemberRead(ResponseModel):
    """A fellow member as others see them: a display name, never an email."""

    user_id: uuid.UUID
    display_name: str
    role: GroupRole
    status: MembershipStatus
    message: str | None = Field(default=None, description="Join request message (coordinators)")
    joined_at: datetime


class MemberUpdate(RequestModel):
    status: Literal["active", "banned"] | None = Field(
        default=None, description="`active` approves a request or lifts a ban"
    )
    role: GroupRole | None = Field(
        default=None, description="`owner` hands ownership over (the owner only)"
    )


class InvitationCreate(RequestModel):
    max_uses: Annotated[int, Field(ge=1, le=10_000)] | None = None
    expires_in_s: Annotated[int, Field(ge=60, le=30 * 86_400)] = 7 * 86_400


class InvitationRead(ResponseModel):
    code: str
    expires_at: datetime
    max_uses: int | None
    uses: int


class VerificationRequestCreate(RequestModel):
    message: Description | None = Field(
        default=None, description="For the officer: who runs the group, how it is organised"
    )


class VerificationGroup(ResponseModel):
    id: uuid.UUID
    name: str
    area: Area
    member_count: int


class VerificationRequestRead(ResponseModel):
    id: uuid.UUID
    group: VerificationGroup
    message: str | None
    requested_by: str | None = Field(description="The requesting owner's display name")
    open: bool = Field(description="No decision has been taken on it yet")
    created_at: datetime


class VerificationDecide(RequestModel):
    decision: Literal["verified", "rejected", "suspended"]
    note: Description | None = Field(
        default=None, description="Shown to the owner; required to reject or suspend"
    )


class VerificationDecisionRead(ResponseModel):
    id: uuid.UUID
    group_id: uuid.UUID
    decision: Decision
    note: str | None
    decided_by: str | None = Field(
        description="The officer's or admin's display name; null for an operator's decision"
    )
    verification: Verification = Field(description="The group's verification after it")
    created_at: datetime
