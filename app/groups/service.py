"""Watch-group rules: who sees a group, who may change it, and how people join and leave.

Visibility: a public group is visible to every signed-in user; a private one only to
its active and pending members (and admins) — to anyone else it does not exist (404).
The group's coordinators and owner (and admins) run it: membership, invitations, alerts.

Verification: anyone may start a group, so a group moderates nothing until an agency
officer whose jurisdiction holds its whole area (or an admin) has vetted it; its owner
asks, the officer decides, every decision is recorded and told to the owner. A verified
group whose area changes is unverified again: the officer vetted that area, not the new
one. Until then a resident may own only a few groups, each over a neighbourhood at most.
"""

from __future__ import annotations

import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import outbox
from app.auth.models import Role, User
from app.auth.names import display_names
from app.db import utcnow
from app.geo.index import index_for
from app.geo.schemas import MAX_RADIUS_M, MIN_RADIUS_M
from app.geo.shapes import Circle, contains, from_geojson
from app.geo.validation import AreaLimits, checked_area
from app.groups.models import (
    Decision,
    Group,
    GroupRole,
    Invitation,
    JoinPolicy,
    Membership,
    MembershipStatus,
    Verification,
    VerificationDecision,
    VerificationRequest,
    Visibility,
)
from app.groups.schemas import (
    GroupCreate,
    GroupRead,
    GroupUpdate,
    InvitationCreate,
    MemberRead,
    MemberUpdate,
    MyMembershipRead,
    VerificationDecide,
    VerificationDecisionRead,
    VerificationGroup,
    VerificationRequestCreate,
    VerificationRequestRead,
)
from app.pagination import Page, newest_first, page_of
from app.problems import Problem, conflict, forbidden, invalid, not_found
from app.settings import Settings

GEO_COLLECTION = "group"
MODERATOR_ROLES = (GroupRole.coordinator.value, GroupRole.owner.value)


def area_limits(settings: Settings, user: User) -> AreaLimits:
    """A resident's group is unverified when its area is set, so it gets the smaller size
    (for a circle, the radius of a disk of that size)."""
    if user.role in (Role.agency, Role.admin):
        return AreaLimits(MIN_RADIUS_M, MAX_RADIUS_M, settings.max_area_km2)
    largest = settings.max_unverified_area_km2
    radius = math.floor(math.sqrt(largest * 1e6 / math.pi))
    return AreaLimits(MIN_RADIUS_M, min(MAX_RADIUS_M, radius), largest)


@dataclass(frozen=True)
class GroupAccess:
    """A group as one caller meets it."""

    group: Group
    user: User
    membership: Membership | None

    @property
    def status(self) -> str | None:
        return self.membership.status if self.membership else None

    @property
    def is_active_member(self) -> bool:
        return self.status == MembershipStatus.active

    @property
    def role(self) -> str | None:
        return self.membership.role if self.is_active_member and self.membership else None

    @property
    def is_admin(self) -> bool:
        return self.user.role == Role.admin

    @property
    def is_moderator(self) -> bool:
        return self.is_admin or self.role in MODERATOR_ROLES

    @property
    def is_owner(self) -> bool:
        return self.is_admin or self.role == GroupRole.owner

    @property
    def is_verified(self) -> bool:
        return self.group.verification == Verification.verified

    @property
    def visible(self) -> bool:
        if self.group.archived_at is not None:
            return False
        if self.is_admin or self.group.visibility == Visibility.public:
            return True
        return self.status in (MembershipStatus.active, MembershipStatus.pending)


async def _membership(
    session: AsyncSession, group_id: uuid.UUID, user_id: uuid.UUID
) -> Membership | None:
    return await session.get(Membership, (group_id, user_id))


async def load_group(session: AsyncSession, group_id: uuid.UUID, user: User) -> GroupAccess:
    """The group as `user` may see it; 404 when it does not exist for them."""
    group = await session.get(Group, group_id)
    if group is None:
        raise not_found("group")
    access = GroupAccess(group, user, await _membership(session, group_id, user.id))
    if not access.visible:
        raise not_found("group")
    return access


def require_moderator(access: GroupAccess) -> None:
    if not access.is_moderator:
        raise forbidden("Only the group's coordinators and owner may do this.")


async def read_group(session: AsyncSession, access: GroupAccess) -> GroupRead:
    return (await _reads(session, access.user, [access.group]))[0]


async def _check_unverified_quota(session: AsyncSession, settings: Settings, user: User) -> None:
    if user.role != Role.resident:
        return
    owned = await session.scalar(
        select(func.count())
        .select_from(Membership)
        .join(Group, col(Group.id) == Membership.group_id)
        .where(
            col(Membership.user_id) == user.id,
            col(Membership.role) == GroupRole.owner.value,
            col(Group.archived_at).is_(None),
            col(Group.verification) != Verification.verified.value,
        )
    )
    if (owned or 0) >= settings.max_unverified_groups:
        raise conflict(
            f"You already own {owned} unverified groups, the most a resident may own; "
            "have one verified or archive one first.",
            kind="unverified-group-limit",
        )


async def create_group(
    session: AsyncSession, settings: Settings, user: User, data: GroupCreate
) -> GroupAccess:
    shape = checked_area("area", data.area, area_limits(settings, user))
    await _check_unverified_quota(session, settings, user)
    group = Group(
        name=data.name,
        description=data.description,
        area=data.area.model_dump(),
        visibility=data.visibility.value,
        join_policy=data.join_policy.value,
        created_by=user.id,
    )
    session.add(group)
    await session.flush()
    membership = Membership(
        group_id=group.id,
        user_id=user.id,
        role=GroupRole.owner.value,
        status=MembershipStatus.active.value,
    )
    session.add(membership)
    await session.flush()
    await index_for(session).put(session, GEO_COLLECTION, group.id, shape)
    return GroupAccess(group, user, membership)


async def update_group(
    session: AsyncSession, settings: Settings, access: GroupAccess, data: GroupUpdate
) -> GroupAccess:
    require_moderator(access)
    group = access.group
    changes = data.model_dump(exclude_unset=True)
    for required in ("name", "area", "visibility", "join_policy"):
        if required in changes and changes[required] is None:
            raise invalid(required, "cannot be null")
    if data.area is not None:
        shape = checked_area("area", data.area, area_limits(settings, access.user))
        new_area = data.area.model_dump()
        # The officer vets (or is about to vet) the area they were shown, not a new one.
        under_review = group.verification in (Verification.verified, Verification.pending)
        if under_review and data.area.model_dump(mode="json") != group.area:
            request = await _open_request(session, group.id)
            if request is not None:
                request.open = False
            await _record_decision(
                session,
                group,
                access.user,
                Decision.area_changed,
                None,
                request.id if request else None,
            )
        group.area = new_area
        await index_for(session).put(session, GEO_COLLECTION, group.id, shape)
    for field in ("name", "description"):
        if field in changes:
            setattr(group, field, changes[field])
    if data.visibility is not None:
        group.visibility = data.visibility.value
    if data.join_policy is not None:
        group.join_policy = data.join_policy.value
    await session.flush()
    return access


async def archive_group(session: AsyncSession, access: GroupAccess) -> None:
    require_moderator(access)
    await archive(session, access.group)


async def archive(session: AsyncSession, group: Group) -> None:
    group.archived_at = utcnow()
    await index_for(session).remove(session, GEO_COLLECTION, group.id)
    await session.flush()


def _visible_groups(user: User) -> Select[Group]:
    mine = select(col(Membership.group_id)).where(
        col(Membership.user_id) == user.id,
        col(Membership.status).in_([MembershipStatus.active.value, MembershipStatus.pending.value]),
    )
    return select(Group).where(
        col(Group.archived_at).is_(None),
        or_(col(Group.visibility) == Visibility.public.value, col(Group.id).in_(mine)),
    )


async def _member_counts(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Active members of each of these groups, in one query."""
    rows = await session.execute(
        select(col(Membership.group_id), func.count())
        .where(
            col(Membership.group_id).in_(ids),
            col(Membership.status) == MembershipStatus.active.value,
        )
        .group_by(col(Membership.group_id))
    )
    return {group_id: int(count) for group_id, count in rows.all()}


async def _reads(session: AsyncSession, user: User, groups: list[Group]) -> list[GroupRead]:
    """GroupRead for many groups in two queries (counts and the caller's memberships)."""
    ids = [g.id for g in groups]
    if not ids:
        return []
    counts = await _member_counts(session, ids)
    mine = {
        m.group_id: m
        for m in (
            await session.execute(
                select(Membership).where(
                    col(Membership.group_id).in_(ids), col(Membership.user_id) == user.id
                )
            )
        ).scalars()
    }
    reads = []
    for group in groups:
        access = GroupAccess(group, user, mine.get(group.id))
        reads.append(
            GroupRead(
                id=group.id,
                name=group.name,
                description=group.description,
                area=group.area,
                visibility=Visibility(group.visibility),
                join_policy=JoinPolicy(group.join_policy),
                member_count=int(counts.get(group.id, 0)),
                my_role=GroupRole(access.role) if access.role else None,
                my_status=MembershipStatus(access.status) if access.status else None,
                verification=Verification(group.verification),
                verified_at=group.verified_at,
                created_at=group.created_at,
            )
        )
    return reads


async def list_groups(
    session: AsyncSession,
    user: User,
    *,
    near: tuple[float, float] | None,
    radius_m: float,
    q: str | None,
    limit: int,
    cursor: str | None,
) -> Page[GroupRead]:
    stmt = _visible_groups(user)
    if near is not None:
        ids = await index_for(session).intersecting(
            session, GEO_COLLECTION, Circle(near[0], near[1], radius_m)
        )
        stmt = stmt.where(col(Group.id).in_(ids))
    if q:
        escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(func.lower(col(Group.name)).like(f"%{escaped}%", escape="\\"))
    rows = list(
        (
            await session.execute(
                newest_first(stmt, col(Group.created_at), col(Group.id), cursor, limit)
            )
        )
        .scalars()
        .all()
    )
    page = page_of(rows, limit, lambda g: (g.created_at, g.id), lambda g: g)
    return Page[GroupRead](
        items=await _reads(session, user, page.items), next_cursor=page.next_cursor
    )


async def join_group(
    session: AsyncSession, access: GroupAccess, message: str | None
) -> tuple[Membership, bool]:
    """Join under the group's policy. Returns the membership and whether it is new."""
    existing = access.membership
    if existing is not None:
        if existing.status == MembershipStatus.banned:
            raise forbidden("You are banned from this group.")
        return existing, False
    policy = access.group.join_policy
    if policy == JoinPolicy.invite:
        raise forbidden("This group takes new members by invitation only.")
    status = MembershipStatus.active if policy == JoinPolicy.open else MembershipStatus.pending
    membership = Membership(
        group_id=access.group.id,
        user_id=access.user.id,
        role=GroupRole.member.value,
        status=status.value,
        message=message,
    )
    session.add(membership)
    await session.flush()
    if status == MembershipStatus.pending:
        await outbox.emit(
            session,
            "membership.requested",
            {"group_id": str(access.group.id), "user_id": str(access.user.id)},
        )
    return membership, True


async def list_members(
    session: AsyncSession,
    access: GroupAccess,
    status: MembershipStatus | None,
    limit: int,
    cursor: str | None,
) -> Page[MemberRead]:
    if not (access.is_active_member or access.is_admin):
        raise forbidden("Only the group's members see who else is in it.")
    wanted = status or MembershipStatus.active
    if wanted != MembershipStatus.active and not access.is_moderator:
        raise forbidden("Only coordinators see pending requests and bans.")
    stmt = (
        select(Membership, col(User.display_name))
        .join(User, col(User.id) == Membership.user_id)
        .where(col(Membership.group_id) == access.group.id, col(Membership.status) == wanted.value)
    )
    # Keyset on (created_at, user_id): the membership's own key.
    stmt = newest_first(stmt, col(Membership.created_at), col(Membership.user_id), cursor, limit)
    rows = list((await session.execute(stmt)).all())

    def convert(row: tuple[Membership, str]) -> MemberRead:
        m, name = row
        return MemberRead(
            user_id=m.user_id,
            display_name=name,
            role=GroupRole(m.role),
            status=MembershipStatus(m.status),
            joined_at=m.created_at,
            message=m.message if access.is_moderator else None,
        )

    return page_of(rows, limit, lambda r: (r[0].created_at, r[0].user_id), convert)


async def _target(session: AsyncSession, access: GroupAccess, user_id: uuid.UUID) -> Membership:
    target = await _membership(session, access.group.id, user_id)
    if target is None:
        raise not_found("member")
    return target


async def update_member(
    session: AsyncSession,
    settings: Settings,
    access: GroupAccess,
    user_id: uuid.UUID,
    data: MemberUpdate,
) -> Membership:
    require_moderator(access)
    target = await _target(session, access, user_id)
    if target.role == GroupRole.owner and (
        data.status == "banned" or data.role not in (None, GroupRole.owner)
    ):
        raise conflict(
            "The owner cannot be banned or demoted; hand ownership over first.",
            kind="owner-protected",
        )
    if (
        target.role == GroupRole.coordinator
        and not access.is_owner
        and (data.status == "banned" or data.role is not None)
    ):
        raise forbidden("Only the owner may ban or change the role of a coordinator.")
    if data.status is not None and data.status != target.status:
        was_pending = target.status == MembershipStatus.pending
        target.status = data.status
        if data.status == MembershipStatus.banned:
            target.role = GroupRole.member.value
        if was_pending and data.status == MembershipStatus.active:
            await outbox.emit(
                session,
                "membership.approved",
                {"group_id": str(access.group.id), "user_id": str(user_id)},
            )
    if data.role is not None and data.role != target.role:
        if not access.is_owner:
            raise forbidden("Only the owner may change roles.")
        if target.status != MembershipStatus.active:
            raise conflict("Only active members can be given a role.", kind="not-active")
        if data.role == GroupRole.owner:
            if not access.is_verified:  # handed over, it counts against the new owner's few
                new_owner = await session.get(User, target.user_id)
                if new_owner is not None:
                    await _check_unverified_quota(session, settings, new_owner)
            await _hand_over(session, access, target)
        else:
            target.role = data.role.value
    await session.flush()
    return target


async def _hand_over(session: AsyncSession, access: GroupAccess, new_owner: Membership) -> None:
    await session.execute(
        update(Membership)
        .where(
            col(Membership.group_id) == access.group.id,
            col(Membership.role) == GroupRole.owner.value,
        )
        .values(role=GroupRole.coordinator.value)
    )
    new_owner.role = GroupRole.owner.value
    await session.flush()
    await session.refresh(new_owner)


async def remove_member(session: AsyncSession, access: GroupAccess, user_id: uuid.UUID) -> None:
    """Leave (yourself), reject a request, lift a ban, or remove a member."""
    target = await _target(session, access, user_id)
    if user_id != access.user.id:
        require_moderator(access)
        if target.role == GroupRole.coordinator and not access.is_owner:
            raise forbidden("Only the owner may remove a coordinator.")
    elif target.status == MembershipStatus.banned:
        raise forbidden("A ban is lifted by the group's coordinators.")
    if target.role == GroupRole.owner:
        raise conflict(
            "The owner cannot leave or be removed; hand ownership over first.",
            kind="owner-protected",
        )
    await session.delete(target)
    await session.flush()


async def create_invitation(
    session: AsyncSession, access: GroupAccess, data: InvitationCreate
) -> Invitation:
    require_moderator(access)
    invitation = Invitation(
        group_id=access.group.id,
        code=secrets.token_urlsafe(12),
        created_by=access.user.id,
        max_uses=data.max_uses,
        uses=0,
        expires_at=utcnow() + timedelta(seconds=data.expires_in_s),
    )
    session.add(invitation)
    await session.flush()
    return invitation


async def accept_invitation(
    session: AsyncSession, user: User, code: str
) -> tuple[Membership, bool]:
    invitation = (
        await session.execute(select(Invitation).where(col(Invitation.code) == code))
    ).scalar_one_or_none()
    group = await session.get(Group, invitation.group_id) if invitation else None
    if invitation is None or group is None or group.archived_at is not None:
        raise not_found("invitation")
    existing = await _membership(session, group.id, user.id)
    if existing is not None and existing.status == MembershipStatus.banned:
        raise forbidden("You are banned from this group.")
    if existing is not None and existing.status == MembershipStatus.active:
        return existing, False
    now = utcnow()
    # One conditional update: of many concurrent accepts, no more than max_uses succeed.
    used = await session.execute(
        update(Invitation)
        .where(
            col(Invitation.id) == invitation.id,
            col(Invitation.expires_at) > now,
            or_(col(Invitation.max_uses).is_(None), col(Invitation.uses) < Invitation.max_uses),
        )
        .values(uses=col(Invitation.uses) + 1)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise Problem(410, "This invitation has expired or been used up.", kind="invitation-spent")
    if existing is not None:  # a pending request, granted by the invitation
        existing.status = MembershipStatus.active.value
        await session.flush()
        return existing, False
    membership = Membership(
        group_id=group.id,
        user_id=user.id,
        role=GroupRole.member.value,
        status=MembershipStatus.active.value,
    )
    session.add(membership)
    await session.flush()
    return membership, True


async def my_groups(
    session: AsyncSession, user: User, limit: int, cursor: str | None
) -> Page[MyMembershipRead]:
    stmt = (
        select(Membership, Group)
        .join(Group, col(Group.id) == Membership.group_id)
        .where(col(Membership.user_id) == user.id, col(Group.archived_at).is_(None))
    )
    stmt = newest_first(stmt, col(Membership.created_at), col(Membership.group_id), cursor, limit)
    rows = list((await session.execute(stmt)).all())
    page = page_of(rows, limit, lambda r: (r[0].created_at, r[0].group_id), lambda r: r)
    reads = {r.id: r for r in await _reads(session, user, [g for _, g in page.items])}
    items = [
        MyMembershipRead(
            group_id=m.group_id,
            user_id=m.user_id,
            role=GroupRole(m.role),
            status=MembershipStatus(m.status),
            created_at=m.created_at,
            group=reads[g.id],
        )
        for m, g in page.items
    ]
    return Page[MyMembershipRead](items=items, next_cursor=page.next_cursor)


async def member_ids(
    session: AsyncSession, group_ids: list[uuid.UUID], moderators_only: bool = False
) -> set[uuid.UUID]:
    """Active members (or only coordinators and owners) of the given groups."""
    stmt = select(col(Membership.user_id)).where(
        col(Membership.group_id).in_(group_ids),
        col(Membership.status) == MembershipStatus.active.value,
    )
    if moderators_only:
        stmt = stmt.where(col(Membership.role).in_(MODERATOR_ROLES))
    return set((await session.execute(stmt)).scalars())


async def active_memberships(
    session: AsyncSession, user_id: uuid.UUID, among: list[uuid.UUID] | None = None
) -> list[tuple[Group, str]]:
    """The groups (not archived; only those `among`, if given) in which the user is an
    active member, with their role."""
    stmt = (
        select(Group, col(Membership.role))
        .join(Membership, col(Membership.group_id) == Group.id)
        .where(
            col(Membership.user_id) == user_id,
            col(Membership.status) == MembershipStatus.active.value,
            col(Group.archived_at).is_(None),
        )
    )
    if among is not None:
        if not among:
            return []
        stmt = stmt.where(col(Membership.group_id).in_(among))
    rows = await session.execute(stmt)
    return [(group, role) for group, role in rows.all()]


async def roles_in(
    session: AsyncSession, user_id: uuid.UUID, group_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The user's role in each of these groups where they are an active member."""
    if not group_ids:
        return {}
    rows = await session.execute(
        select(col(Membership.group_id), col(Membership.role)).where(
            col(Membership.user_id) == user_id,
            col(Membership.group_id).in_(group_ids),
            col(Membership.status) == MembershipStatus.active.value,
        )
    )
    return {group_id: role for group_id, role in rows.all()}


# Verification ------------------------------------------------------------------------


def _may_vet(user: User, group: Group) -> bool:
    """Admins anywhere; agency officers for groups wholly inside their jurisdiction."""
    if user.role == Role.admin:
        return True
    return bool(
        user.role == Role.agency
        and user.jurisdiction
        and contains(from_geojson(user.jurisdiction), from_geojson(group.area))
    )


async def _record_decision(
    session: AsyncSession,
    group: Group,
    by: User | None,
    decision: Decision,
    note: str | None,
    request_id: uuid.UUID | None = None,
) -> VerificationDecision:
    """Record a decision, apply it to the group and tell the group's owner."""
    now = utcnow()
    if decision == Decision.verified:
        group.verification, group.verified_at = Verification.verified.value, now
    else:
        group.verification = (
            Verification.unverified.value
            if decision == Decision.area_changed
            else Verification(decision.value).value
        )
        group.verified_at = None
    record = VerificationDecision(
        group_id=group.id,
        request_id=request_id,
        decided_by=by.id if by else None,
        decision=decision.value,
        note=note,
        created_at=now,
    )
    session.add(record)
    await session.flush()
    await outbox.emit(
        session,
        "group.verification_decided",
        {"group_id": str(group.id), "decision": decision.value},
    )
    return record


async def _open_request(session: AsyncSession, group_id: uuid.UUID) -> VerificationRequest | None:
    stmt = select(VerificationRequest).where(
        col(VerificationRequest.group_id) == group_id, col(VerificationRequest.open).is_(True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def request_verification(
    session: AsyncSession, access: GroupAccess, data: VerificationRequestCreate
) -> VerificationRequestRead:
    if access.role != GroupRole.owner:
        raise forbidden("Only the group's owner asks for it to be verified.")
    state = access.group.verification
    if state == Verification.pending:
        raise conflict("A verification request is already pending.", kind="verification-pending")
    if state == Verification.verified:
        raise conflict("The group is already verified.", kind="already-verified")
    if state == Verification.suspended:
        raise conflict(
            "A suspended group is reinstated by an agency officer, not by asking again.",
            kind="verification-suspended",
        )
    request = VerificationRequest(
        group_id=access.group.id, requested_by=access.user.id, message=data.message
    )
    session.add(request)
    access.group.verification = Verification.pending.value
    await session.flush()
    return (await _request_reads(session, [request]))[0]


async def _request_reads(
    session: AsyncSession, requests: list[VerificationRequest]
) -> list[VerificationRequestRead]:
    group_ids = list({r.group_id for r in requests})
    groups = {g.id: g for g in await groups_by_id(session, group_ids)}
    counts = await _member_counts(session, group_ids)
    names = await display_names(session, (r.requested_by for r in requests))
    return [
        VerificationRequestRead(
            id=r.id,
            group=VerificationGroup(
                id=r.group_id,
                name=groups[r.group_id].name,
                area=groups[r.group_id].area,
                member_count=int(counts.get(r.group_id, 0)),
            ),
            message=r.message,
            requested_by=names.get(r.requested_by) if r.requested_by else None,
            open=r.open,
            created_at=r.created_at,
        )
        for r in requests
    ]


async def list_verification_requests(
    session: AsyncSession, user: User, limit: int, cursor: str | None
) -> Page[VerificationRequestRead]:
    """Open requests the caller may decide on: inside their jurisdiction, or all (admin)."""
    if user.role not in (Role.agency, Role.admin):
        raise forbidden("Verification requests are for agency officers and admins.")
    stmt = (
        select(VerificationRequest)
        .join(Group, col(Group.id) == VerificationRequest.group_id)
        .where(col(VerificationRequest.open).is_(True), col(Group.archived_at).is_(None))
    )
    if user.role == Role.agency:
        if not user.jurisdiction:
            return Page[VerificationRequestRead](items=[])
        inside = await index_for(session).within(
            session, GEO_COLLECTION, from_geojson(user.jurisdiction)
        )
        stmt = stmt.where(col(VerificationRequest.group_id).in_(inside))
    stmt = newest_first(
        stmt, col(VerificationRequest.created_at), col(VerificationRequest.id), cursor, limit
    )
    rows = list((await session.execute(stmt)).scalars().all())
    page = page_of(rows, limit, lambda r: (r.created_at, r.id), lambda r: r)
    return Page[VerificationRequestRead](
        items=await _request_reads(session, page.items), next_cursor=page.next_cursor
    )


async def load_group_to_vet(session: AsyncSession, group_id: uuid.UUID, user: User) -> Group:
    """The group, for an officer who may decide on it; 404 to whoever may not see it."""
    group = await session.get(Group, group_id)
    if group is None or group.archived_at is not None:
        raise not_found("group")
    if _may_vet(user, group):
        return group
    await load_group(session, group_id, user)  # 404 when it does not exist for them
    raise forbidden(
        "Groups are verified by an agency officer whose jurisdiction holds the whole "
        "area, or by an admin."
    )


async def decide_verification(
    session: AsyncSession, group: Group, by: User | None, data: VerificationDecide
) -> VerificationDecisionRead:
    """An officer's (or, with `by` None, an operator's) decision on a group."""
    decision = Decision(data.decision)
    state = Verification(group.verification)
    if decision == Decision.verified and state == Verification.verified:
        raise conflict("The group is already verified.", kind="already-verified")
    if decision == Decision.rejected and state != Verification.pending:
        raise conflict(
            "Only a pending request can be rejected; suspend a verified group instead.",
            kind="not-pending",
        )
    if decision == Decision.suspended and state == Verification.suspended:
        raise conflict("The group is already suspended.", kind="already-suspended")
    if decision != Decision.verified and not data.note:
        raise invalid("note", "a reason for the owner is required to reject or suspend")
    request = await _open_request(session, group.id)
    if request is not None:
        request.open = False
    record = await _record_decision(
        session, group, by, decision, data.note, request.id if request else None
    )
    return VerificationDecisionRead(
        id=record.id,
        group_id=group.id,
        decision=decision,
        note=record.note,
        decided_by=by.display_name if by else None,
        verification=Verification(group.verification),
        created_at=record.created_at,
    )


async def owner_ids(session: AsyncSession, group_id: uuid.UUID) -> set[uuid.UUID]:
    stmt = select(col(Membership.user_id)).where(
        col(Membership.group_id) == group_id,
        col(Membership.role) == GroupRole.owner.value,
        col(Membership.status) == MembershipStatus.active.value,
    )
    return set((await session.execute(stmt)).scalars())


async def groups_by_id(session: AsyncSession, group_ids: list[uuid.UUID]) -> list[Group]:
    return list(
        (await session.execute(select(Group).where(col(Group.id).in_(group_ids)))).scalars()
    )


async def coordinates_verified_group(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Whether the user is an active coordinator or owner of a verified, live group."""
    stmt = (
        select(col(Group.id))
        .join(Membership, col(Membership.group_id) == col(Group.id))
        .where(
            col(Membership.user_id) == user_id,
            col(Membership.status) == MembershipStatus.active.value,
            col(Membership.role).in_(MODERATOR_ROLES),
            col(Group.verification) == Verification.verified.value,
            col(Group.archived_at).is_(None),
        )
        .limit(1)
    )
    return (await session.scalar(stmt)) is not None


async def verified_group_ids(session: AsyncSession) -> list[uuid.UUID]:
    """Every verified group not archived, in a stable order."""
    stmt = (
        select(col(Group.id))
        .where(
            col(Group.verification) == Verification.verified.value,
            col(Group.archived_at).is_(None),
        )
        .order_by(col(Group.id))
    )
    return list((await session.execute(stmt)).scalars())
