"""GET /v1/me/export, DELETE /v1/me, and the admin's same two for another account."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import IO

from fastapi import Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.auth import service as auth_service
from app.auth.deps import AccessClaimsDep, AuthContextDep
from app.auth.firebase import FirebaseVerifier
from app.auth.models import Role, User
from app.auth.tokens import AccessClaims
from app.db import reading
from app.incidents.media import MediaStore
from app.middleware import client_address
from app.privacy import erasure, export
from app.privacy.schemas import EraseRequest, Export
from app.problems import Problem, conflict, forbidden, not_found, unauthenticated
from app.ratelimit import DAY, Rate
from app.realtime.hub import Hub
from app.routing import make_router, negotiate, problem_responses

router = make_router(prefix="/v1", tags=["your data"])

ZIP = "application/zip"
_EXPORT_RESPONSES = {
    200: {
        "description": "The export: JSON, or with `Accept: application/zip` a ZIP holding "
        "`export.json` and the photos",
        "content": {ZIP: {"schema": {"type": "string", "format": "binary"}}},
        "headers": {"Content-Disposition": {"schema": {"type": "string"}}},
    },
    **problem_responses(401, 403, 404, 429),
}


def _chunks(file: IO[bytes]) -> Iterator[bytes]:
    with file:
        while chunk := file.read(64 * 1024):
            yield chunk


async def _caller(request: Request, claims: AccessClaims) -> User:
    """The caller's account, read without holding a request session: the erasure is a
    unit of work of its own, and on SQLite a request session holds the write lock."""
    async with reading(request.app.state.sessionmaker) as session:
        user = await auth_service.get_user(session, claims.user_id)
    if user is None:
        raise unauthenticated("The access token is invalid or expired.")
    return user


async def _answer(request: Request, claims: AccessClaims, user_id: uuid.UUID | None) -> Response:
    """Built in a read-only session: an export takes seconds for a busy account, and on
    SQLite a request session would hold every writer back meanwhile."""
    caller = await _caller(request, claims)
    if user_id is not None and caller.role != Role.admin:
        raise forbidden("Only an admin may do this.")
    limit = Rate(request.app.state.settings.exports_per_user_per_day, DAY)
    await request.app.state.limiter.take(
        limit, f"export:{caller.id}", f"At most {limit.amount} exports per day."
    )
    async with reading(request.app.state.sessionmaker) as session:
        user = caller if user_id is None else await auth_service.get_user(session, user_id)
        if user is None:
            raise not_found("user")
        document = await export.build(session, user)
        photos = await export.photos_of(session, user)
    name = f"neighbourwatch-export-{document.generated_at:%Y-%m-%d}"
    headers = {"Cache-Control": "no-store"}
    if negotiate(request, "application/json", ZIP) == ZIP:
        store: MediaStore = request.app.state.media_store
        file = await asyncio.to_thread(export.write_zip, document, photos, store.load)
        headers["Content-Disposition"] = f'attachment; filename="{name}.zip"'
        return StreamingResponse(_chunks(file), media_type=ZIP, headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{name}.json"'
    return JSONResponse(document.model_dump(mode="json"), headers=headers)


@router.get("/me/export", response_model=Export, responses=_EXPORT_RESPONSES)
async def export_my_data(
    claims: AccessClaimsDep,
    request: Request,
) -> Response:
    """Everything Neighbourwatch holds about the caller (UK GDPR art. 15 and 20), as one
    JSON document; with `Accept: application/zip`, a ZIP of that document and the photos.
    At most NW_EXPORTS_PER_USER_PER_DAY a day."""
    return await _answer(request, claims, None)


@router.get(
    "/admin/users/{user_id}/export",
    response_model=Export,
    responses=_EXPORT_RESPONSES,
    tags=["admin"],
)
async def export_user_data(
    user_id: uuid.UUID,
    claims: AccessClaimsDep,
    request: Request,
) -> Response:
    """The same export of another account (admin only): a subject access request made
    through the controller. Counts against the admin's NW_EXPORTS_PER_USER_PER_DAY."""
    return await _answer(request, claims, user_id)


async def _reauthenticate(
    request: Request, ctx: auth_service.AuthContext, user: User, data: EraseRequest
) -> None:
    uid = None
    if data.firebase_id_token is not None:
        verifier: FirebaseVerifier | None = request.app.state.firebase
        if verifier is None:
            raise Problem(501, "Firebase sign-in is not configured here.", kind="not-configured")
        uid = (await verifier.verify(data.firebase_id_token)).uid
    await auth_service.reauthenticate(
        ctx, user, client_address(request), password=data.password, firebase_uid=uid
    )


async def _erase(request: Request, user_id: uuid.UUID, admin: User | None) -> None:
    """Its own unit of work, so that when the answer goes out the erasure has committed,
    the photos are gone from the store and the connections are being closed."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        target = await session.get(User, user_id)
        if target is None:
            raise not_found("user")
        if target.role == Role.admin:
            admins = await session.scalar(
                select(func.count()).where(col(User.role) == Role.admin.value)
            )
            if (admins or 0) <= 1:
                raise conflict("The last admin cannot be erased.", kind="last-admin")
        erased = await erasure.erase(session, target, admin=admin)
        await session.commit()
    store: MediaStore = request.app.state.media_store
    for key in erased.photo_keys:
        await asyncio.to_thread(store.delete, key)
    hub: Hub = request.app.state.hub
    await hub.revoke_everywhere(erased.user_id)


_ERASE_RESPONSES = problem_responses(401, 403, 404, 409, 422, 429, 501)


@router.delete("/me", status_code=status.HTTP_204_NO_CONTENT, responses=_ERASE_RESPONSES)
async def erase_me(
    data: EraseRequest, claims: AccessClaimsDep, request: Request, ctx: AuthContextDep
) -> None:
    """Erase the caller's account (UK GDPR art. 17), after proving again who they are.

    Deleted: the account, sign-ins, devices (no push after this answer), places,
    preferences, memberships, invitations they made, the Firebase link. Kept,
    anonymised: their reports and updates (no reporter, photos deleted, the snapped
    point only), alerts they issued (signed by a role), acknowledgements (as counts).
    Their WebSocket connections close (4401). 409 while they own a group with other
    members (hand it over first); a group they alone are in is archived."""
    user = await _caller(request, claims)
    await _reauthenticate(request, ctx, user, data)
    await _erase(request, user.id, None)


@router.delete(
    "/admin/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_ERASE_RESPONSES,
    tags=["admin"],
)
async def erase_user(
    user_id: uuid.UUID,
    data: EraseRequest,
    claims: AccessClaimsDep,
    request: Request,
    ctx: AuthContextDep,
) -> None:
    """Erase another account as DELETE /v1/me does (admin only), after the admin proves
    again who they are with their own password or Firebase ID token."""
    admin = await _caller(request, claims)
    if admin.role != Role.admin:
        raise forbidden("Only an admin may do this.")
    await _reauthenticate(request, ctx, admin, data)
    await _erase(request, user_id, admin)
