"""The API clients' admin endpoints (`/v1/admin/clients`): admins and agency officers."""

from __future__ import annotations

import uuid

from fastapi import Request, status

from app.auth import clients
from app.auth.client_schemas import ClientCreate, ClientRead, ClientRotate, ClientWithSecret
from app.auth.deps import CurrentUser
from app.db import SessionDep
from app.pagination import CursorParam, LimitParam, Page
from app.routing import make_router, problem_responses

router = make_router(prefix="/admin/clients", tags=["admin"], responses=problem_responses(401, 403))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ClientWithSecret,
)
async def create_client(
    data: ClientCreate, user: CurrentUser, session: SessionDep, request: Request
) -> ClientWithSecret:
    """Create an API client; its `client_secret` is in this answer only. Admins: any
    jurisdiction (or none: everywhere) and a `group_id`; agency officers: inside their
    own jurisdiction (default: all of it), no group."""
    return await clients.create_client(session, request.app.state.settings, user, data)


@router.get("", response_model=Page[ClientRead])
async def list_clients(
    user: CurrentUser, session: SessionDep, limit: LimitParam = 50, cursor: CursorParam = None
) -> Page[ClientRead]:
    """Admins: every client; agency officers: those they created. Revoked ones included."""
    return await clients.list_clients(session, user, limit, cursor)


@router.post(
    "/{client_id}/rotate",
    response_model=ClientWithSecret,
    responses=problem_responses(404, 409),
)
async def rotate_client_secret(
    client_id: uuid.UUID, user: CurrentUser, session: SessionDep, data: ClientRotate | None = None
) -> ClientWithSecret:
    """A new secret, in this answer only. The old one keeps working for `grace_period_s`
    (at most seven days; default none); tokens already issued keep working until they
    expire."""
    client = await clients.load_managed_client(session, user, client_id)
    return await clients.rotate_secret(session, client, data or ClientRotate())


@router.delete(
    "/{client_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404)
)
async def revoke_client(client_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> None:
    """Revoke the client: its secrets and every token issued to it stop working at once."""
    client = await clients.load_managed_client(session, user, client_id)
    await clients.revoke_client(session, client)
