"""The CAP sources' admin endpoints (`/v1/admin/cap-sources`): admins only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Request, status

from app.auth.deps import AdminUser, rate_limit
from app.db import SessionDep
from app.integrations.cap_in import service
from app.integrations.cap_in.models import CapSource, Outcome
from app.integrations.cap_in.schemas import (
    CapDocumentRead,
    CapSourceCreate,
    CapSourceDetail,
    CapSourceRead,
)
from app.pagination import CursorParam, LimitParam, Page
from app.ratelimit import HOUR, Rate
from app.routing import make_router, problem_responses

router = make_router(
    prefix="/v1/admin/cap-sources", tags=["admin"], responses=problem_responses(401, 403)
)
CHANGES_LIMIT = rate_limit(
    "cap-sources",
    lambda s, _: Rate(s.cap_source_changes_per_hour, HOUR),
    "CAP source registrations and deletions",
)


async def source_from_path(
    source_id: uuid.UUID, _admin: AdminUser, session: SessionDep
) -> CapSource:
    return await service.load_source(session, source_id)


SourceFromPath = Annotated[CapSource, Depends(source_from_path)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CapSourceRead,
    responses=problem_responses(409, 429),
    dependencies=[CHANGES_LIMIT],
)
async def create_cap_source(
    data: CapSourceCreate, admin: AdminUser, session: SessionDep, request: Request
) -> CapSourceRead:
    """Register an agency's CAP feed: an Atom or RSS index of CAP 1.2 documents, or one
    document. It is polled from now on (every `NW_CAP_POLL_SECONDS`, conditionally);
    each document is validated against the CAP 1.2 schema, and one whose `sender` is
    `trust.sender`, `Actual`, `Public` and inside `trust.allowed_area` becomes an alert
    (Alert → issued, Update → update, Cancel → cancel) issued as `agency_user_id` (or
    the feeds' system account) and shown under `name`. The URL is refused (422 naming
    `url`) unless it is `https` to a host whose every address is public, as webhooks'."""
    source = await service.create_source(session, request.app.state.settings, admin, data)
    return service.to_read(source)


@router.get("", response_model=Page[CapSourceRead])
async def list_cap_sources(
    _admin: AdminUser, session: SessionDep, limit: LimitParam = 50, cursor: CursorParam = None
) -> Page[CapSourceRead]:
    """Every registered CAP source, newest first, with how its polls go."""
    return await service.list_sources(session, limit, cursor)


@router.get("/{source_id}", response_model=CapSourceDetail, responses=problem_responses(404))
async def read_cap_source(source: SourceFromPath, session: SessionDep) -> CapSourceDetail:
    """One source: its last poll, last error, failures in a row, next poll, and how many
    of its documents were accepted, duplicates, invalid, refused, ignored, unsupported."""
    return await service.read_source(session, source)


@router.get(
    "/{source_id}/documents",
    response_model=Page[CapDocumentRead],
    responses=problem_responses(404),
)
async def list_cap_documents(
    source: SourceFromPath,
    session: SessionDep,
    outcome: Annotated[
        Outcome | None, Query(description="Only documents with this outcome")
    ] = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[CapDocumentRead]:
    """The documents read from this source, newest first, each with what became of it
    and why (the schema's first complaint for an invalid one)."""
    return await service.list_documents(session, source, outcome, limit, cursor)


@router.delete(
    "/{source_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 429),
    dependencies=[CHANGES_LIMIT],
)
async def delete_cap_source(source: SourceFromPath, session: SessionDep) -> None:
    """Stop polling the source and drop its log. The alerts it brought in stay (cancel
    them as any alert), and so does the record of which CAP documents they came from,
    so that registering the feed again brings in nothing twice."""
    await service.delete_source(session, source)
