"""Admin view of the outbox: events the dispatcher could not process, and their retry."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from sqlalchemy import select
from sqlmodel import col

from app.auth.deps import AdminUser
from app.db import SessionDep, utcnow
from app.outbox.models import OutboxEvent
from app.pagination import CursorParam, LimitParam, Page, newest_first, page_of
from app.problems import conflict, not_found
from app.routing import make_router, problem_responses
from app.schemas import ResponseModel

router = make_router(prefix="/v1/admin", tags=["admin"], responses=problem_responses(401, 403))


class OutboxEventRead(ResponseModel):
    id: uuid.UUID
    event_type: str
    state: Literal["pending", "done", "dead"]
    attempts: int
    created_at: datetime
    available_at: datetime
    last_error: str | None
    payload: dict[str, Any]


@router.get("/outbox", response_model=Page[OutboxEventRead])
async def list_outbox_events(
    _admin: AdminUser,
    session: SessionDep,
    state: Annotated[
        Literal["pending", "done", "dead"], Query(description="`dead`: parked after failing")
    ] = "dead",
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[OutboxEventRead]:
    """Outbox events in a state, newest first, with the last error of each."""
    stmt = select(OutboxEvent).where(col(OutboxEvent.state) == state)
    stmt = newest_first(stmt, col(OutboxEvent.created_at), col(OutboxEvent.id), cursor, limit)
    rows = list((await session.execute(stmt)).scalars())
    return page_of(rows, limit, lambda e: (e.created_at, e.id), OutboxEventRead.model_validate)


@router.post(
    "/outbox/{event_id}/retry",
    response_model=OutboxEventRead,
    responses=problem_responses(404, 409),
)
async def retry_outbox_event(
    _admin: AdminUser, session: SessionDep, event_id: Annotated[uuid.UUID, Path()]
) -> OutboxEventRead:
    """Put a dead event back in the queue with a fresh count of attempts."""
    event = await session.get(OutboxEvent, event_id)
    if event is None:
        raise not_found("outbox event")
    if event.state != "dead":
        raise conflict(f"Only a dead event can be retried; this one is {event.state}.")
    event.state, event.attempts, event.lease_until = "pending", 0, None
    event.available_at = utcnow()
    await session.flush()
    return OutboxEventRead.model_validate(event)
