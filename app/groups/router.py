from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path, Query, Request, Response, status

from app.auth.deps import CurrentUser, rate_limit
from app.db import SessionDep
from app.geo.schemas import NEAR_PATTERN
from app.groups import service
from app.groups.deps import GroupFromPath
from app.groups.models import MembershipStatus
from app.groups.schemas import (
    GroupCreate,
    GroupRead,
    GroupUpdate,
    InvitationCreate,
    InvitationRead,
    JoinRequest,
    MemberRead,
    MembershipRead,
    MemberUpdate,
    MyMembershipRead,
    VerificationDecide,
    VerificationDecisionRead,
    VerificationRequestCreate,
    VerificationRequestRead,
)
from app.pagination import CursorParam, LimitParam, Page
from app.problems import invalid
from app.ratelimit import DAY, Rate
from app.routing import make_router, problem_responses

router = make_router(prefix="/v1", tags=["groups"], responses=problem_responses(401))

_CREATED_OR_KNOWN: dict[int | str, dict[str, Any]] = {
    200: {"model": MembershipRead, "description": "Already a member"}
}


def _parse_near(near: str | None) -> tuple[float, float] | None:
    if near is None:
        return None
    try:
        lon_text, lat_text = near.split(",")
        lon, lat = float(lon_text), float(lat_text)
    except ValueError:
        raise invalid("near", "must be `lon,lat` in decimal degrees") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise invalid("near", "longitude must be in [-180, 180] and latitude in [-90, 90]")
    return lon, lat


@router.post(
    "/groups",
    status_code=status.HTTP_201_CREATED,
    response_model=GroupRead,
    responses=problem_responses(409, 429),
    dependencies=[
        rate_limit("groups", lambda s, _: Rate(s.groups_per_user_per_day, DAY), "new groups")
    ],
)
async def create_group(
    data: GroupCreate, user: CurrentUser, session: SessionDep, request: Request
) -> GroupRead:
    """Create a watch group; the caller becomes its owner."""
    access = await service.create_group(session, request.app.state.settings, user, data)
    return await service.read_group(session, access)


@router.get("/groups", response_model=Page[GroupRead])
async def list_groups(
    user: CurrentUser,
    session: SessionDep,
    near: Annotated[
        str | None,
        Query(
            pattern=NEAR_PATTERN,
            description="`lon,lat` in decimal degrees: groups whose area touches this circle",
            examples=["-0.1276,51.5072"],
        ),
    ] = None,
    radius_m: Annotated[float, Query(ge=0, le=50_000)] = 2_000,
    q: Annotated[str | None, Query(max_length=100, description="Text in the name")] = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[GroupRead]:
    """Public groups and the caller's own, newest first."""
    return await service.list_groups(
        session,
        user,
        near=_parse_near(near),
        radius_m=radius_m,
        q=q,
        limit=limit,
        cursor=cursor,
    )


@router.get("/groups/{group_id}", response_model=GroupRead)
async def read_group(access: GroupFromPath, session: SessionDep) -> GroupRead:
    """A group the caller can see: public, or one they belong to; with their role and
    membership status in it."""
    return await service.read_group(session, access)


@router.patch("/groups/{group_id}", response_model=GroupRead, responses=problem_responses(403))
async def update_group(
    data: GroupUpdate, access: GroupFromPath, session: SessionDep, request: Request
) -> GroupRead:
    """Change a group (coordinators and owner)."""
    access = await service.update_group(session, request.app.state.settings, access, data)
    return await service.read_group(session, access)


@router.delete(
    "/groups/{group_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403),
)
async def archive_group(access: GroupFromPath, session: SessionDep) -> None:
    """Archive a group (coordinators and owner): it disappears for everyone."""
    await service.archive_group(session, access)


@router.post(
    "/groups/{group_id}/join",
    status_code=status.HTTP_201_CREATED,
    response_model=MembershipRead,
    responses={**_CREATED_OR_KNOWN, **problem_responses(403, 429)},
    dependencies=[
        rate_limit(
            "join",
            lambda s, _: Rate(s.join_requests_per_group_per_day, DAY),
            "join requests to one group",
            per_path="group_id",
        )
    ],
)
async def join_group(
    access: GroupFromPath,
    session: SessionDep,
    response: Response,
    data: JoinRequest | None = None,
) -> MembershipRead:
    """Join: `open` groups at once, `request` groups once a coordinator approves."""
    membership, created = await service.join_group(session, access, data.message if data else None)
    if not created:
        response.status_code = status.HTTP_200_OK
    return MembershipRead.model_validate(membership)


@router.get(
    "/groups/{group_id}/members",
    response_model=Page[MemberRead],
    responses=problem_responses(403),
)
async def list_members(
    access: GroupFromPath,
    session: SessionDep,
    status_filter: Annotated[MembershipStatus | None, Query(alias="status")] = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[MemberRead]:
    """Members by display name; coordinators also see pending requests and bans."""
    return await service.list_members(session, access, status_filter, limit, cursor)


@router.patch(
    "/groups/{group_id}/members/{user_id}",
    response_model=MembershipRead,
    responses=problem_responses(403, 409),
)
async def update_member(
    user_id: uuid.UUID,
    data: MemberUpdate,
    access: GroupFromPath,
    session: SessionDep,
    request: Request,
) -> MembershipRead:
    """Approve, ban or reinstate a member; promote, demote, or hand ownership over (an
    unverified group only to someone who owns fewer than the most a resident may)."""
    membership = await service.update_member(
        session, request.app.state.settings, access, user_id, data
    )
    return MembershipRead.model_validate(membership)


@router.delete(
    "/groups/{group_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 409),
)
async def remove_member(user_id: uuid.UUID, access: GroupFromPath, session: SessionDep) -> None:
    """Leave the group (yourself), or remove, reject or unban someone (coordinators)."""
    await service.remove_member(session, access, user_id)


@router.post(
    "/groups/{group_id}/invitations",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitationRead,
    responses=problem_responses(403),
)
async def create_invitation(
    data: InvitationCreate, access: GroupFromPath, session: SessionDep
) -> InvitationRead:
    """An invitation code to share (coordinators and owner)."""
    return InvitationRead.model_validate(await service.create_invitation(session, access, data))


@router.post(
    "/invitations/{code}/accept",
    status_code=status.HTTP_201_CREATED,
    response_model=MembershipRead,
    responses={**_CREATED_OR_KNOWN, **problem_responses(403, 410)},
)
async def accept_invitation(
    code: Annotated[str, Path(max_length=64)],
    user: CurrentUser,
    session: SessionDep,
    response: Response,
) -> MembershipRead:
    """Join a group with an invitation code (also a private or invite-only one)."""
    membership, created = await service.accept_invitation(session, user, code)
    if not created:
        response.status_code = status.HTTP_200_OK
    return MembershipRead.model_validate(membership)


@router.get("/me/groups", response_model=Page[MyMembershipRead], tags=["groups"])
async def list_my_groups(
    user: CurrentUser, session: SessionDep, limit: LimitParam = 50, cursor: CursorParam = None
) -> Page[MyMembershipRead]:
    """The caller's memberships (active and pending), newest first."""
    return await service.my_groups(session, user, limit, cursor)


@router.post(
    "/groups/{group_id}/verification-requests",
    status_code=status.HTTP_201_CREATED,
    response_model=VerificationRequestRead,
    responses=problem_responses(403, 409),
)
async def request_group_verification(
    access: GroupFromPath, session: SessionDep, data: VerificationRequestCreate | None = None
) -> VerificationRequestRead:
    """Ask for the group to be verified (the owner). An agency officer whose jurisdiction
    holds the whole area, or an admin, decides; until then the group moderates nothing."""
    return await service.request_verification(session, access, data or VerificationRequestCreate())


@router.get(
    "/verification-requests",
    response_model=Page[VerificationRequestRead],
    responses=problem_responses(403),
)
async def list_verification_requests(
    user: CurrentUser, session: SessionDep, limit: LimitParam = 50, cursor: CursorParam = None
) -> Page[VerificationRequestRead]:
    """Pending requests: for an agency officer those whose group lies wholly inside their
    jurisdiction, for an admin all; newest first."""
    return await service.list_verification_requests(session, user, limit, cursor)


@router.post(
    "/groups/{group_id}/verification",
    status_code=status.HTTP_201_CREATED,
    response_model=VerificationDecisionRead,
    responses=problem_responses(403, 404, 409),
)
async def decide_group_verification(
    group_id: uuid.UUID, data: VerificationDecide, user: CurrentUser, session: SessionDep
) -> VerificationDecisionRead:
    """Verify, reject (a pending request) or suspend a group: an agency officer whose
    jurisdiction holds the whole area, or an admin. Recorded, and told to the owner."""
    group = await service.load_group_to_vet(session, group_id, user)
    return await service.decide_verification(session, group, user, data)
