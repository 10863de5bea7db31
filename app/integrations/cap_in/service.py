"""CAP sources as admins manage them: registered (the URL judged as a webhook's is),
listed with how their polls go, deleted; and the log of what was read from each."""

from __future__ import annotations

import asyncio
import socket
import uuid
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.models import Role, User
from app.db import utcnow
from app.geo.schemas import MAX_JURISDICTION_RADIUS_M, MIN_RADIUS_M
from app.geo.validation import AreaLimits, checked_area
from app.integrations.cap_in.models import CapDocument, CapSource, Outcome
from app.integrations.cap_in.poller import policy_of
from app.integrations.cap_in.schemas import (
    CapDocumentRead,
    CapSourceCreate,
    CapSourceDetail,
    CapSourceRead,
    SourceStatus,
    TrustRead,
)
from app.outbound.guard import Refused, check_addresses, check_url
from app.pagination import Page, newest_first, page_of
from app.problems import conflict, invalid, not_found
from app.settings import Settings


async def check_source_url(url: str, settings: Settings) -> None:
    """A 422 naming `url` unless it is one the poller may fetch: its form, and the
    addresses its host resolves to now (they are judged again at every fetch)."""
    policy = policy_of(settings)
    try:
        target = check_url(url, policy)
        if not target.exempt:
            host = urlsplit(url).hostname or ""
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, target.port, type=socket.SOCK_STREAM
                )
            except OSError as exc:
                raise Refused(f"{host} does not resolve") from exc
            check_addresses(host, target.port, (str(i[4][0]) for i in infos), policy)
    except Refused as exc:
        raise invalid("url", exc.reason, code="url_refused") from exc


async def create_source(
    session: AsyncSession, settings: Settings, admin: User, data: CapSourceCreate
) -> CapSource:
    await check_source_url(data.url, settings)
    if data.agency_user_id is not None:
        officer = await session.get(User, data.agency_user_id)
        if officer is None or officer.role not in (Role.agency, Role.admin):
            raise invalid(
                "agency_user_id", "is not an agency officer or admin", code="not_an_officer"
            )
    allowed = data.trust.allowed_area
    if allowed is not None:
        limits = AreaLimits(MIN_RADIUS_M, MAX_JURISDICTION_RADIUS_M, settings.max_jurisdiction_km2)
        checked_area("trust.allowed_area", allowed, limits)
    source = CapSource(
        url=data.url,
        name=data.name,
        agency_user_id=data.agency_user_id,
        trust_sender=data.trust.sender,
        allowed_area=allowed.model_dump(mode="json") if allowed is not None else None,
        created_by=admin.id,
        next_poll_at=utcnow(),
    )
    try:
        async with session.begin_nested():
            session.add(source)
    except IntegrityError as exc:
        raise conflict("A source with this URL is registered already.", "duplicate-source") from exc
    return source


async def load_source(session: AsyncSession, source_id: uuid.UUID) -> CapSource:
    source = await session.get(CapSource, source_id)
    if source is None:
        raise not_found("CAP source")
    return source


def to_read(source: CapSource) -> CapSourceRead:
    return CapSourceRead(
        id=source.id,
        url=source.url,
        name=source.name,
        agency_user_id=source.agency_user_id,
        trust=TrustRead(sender=source.trust_sender, allowed_area=source.allowed_area),
        created_at=source.created_at,
        status=SourceStatus(
            last_polled_at=source.last_polled_at,
            last_success_at=source.last_success_at,
            last_status=source.last_status,
            last_error=source.last_error,
            failures=source.failures,
            next_poll_at=source.next_poll_at,
        ),
    )


async def read_source(session: AsyncSession, source: CapSource) -> CapSourceDetail:
    rows = await session.execute(
        select(col(CapDocument.outcome), func.count())
        .where(col(CapDocument.source_id) == source.id)
        .group_by(col(CapDocument.outcome))
    )
    counts = {Outcome(outcome): int(n) for outcome, n in rows.all()}
    return CapSourceDetail(**to_read(source).model_dump(), documents=counts)


async def list_sources(
    session: AsyncSession, limit: int, cursor: str | None
) -> Page[CapSourceRead]:
    stmt = newest_first(
        select(CapSource), col(CapSource.created_at), col(CapSource.id), cursor, limit
    )
    rows = list((await session.execute(stmt)).scalars().all())
    return page_of(rows, limit, lambda s: (s.created_at, s.id), to_read)


async def delete_source(session: AsyncSession, source: CapSource) -> None:
    """Its log goes with it; the alerts it brought in stay, as do their CAP keys (so
    that registering it again brings in nothing twice)."""
    await session.delete(source)
    await session.flush()


async def list_documents(
    session: AsyncSession,
    source: CapSource,
    outcome: Outcome | None,
    limit: int,
    cursor: str | None,
) -> Page[CapDocumentRead]:
    stmt = select(CapDocument).where(col(CapDocument.source_id) == source.id)
    if outcome is not None:
        stmt = stmt.where(col(CapDocument.outcome) == outcome.value)
    stmt = newest_first(stmt, col(CapDocument.received_at), col(CapDocument.id), cursor, limit)
    rows = list((await session.execute(stmt)).scalars().all())
    return page_of(rows, limit, lambda d: (d.received_at, d.id), CapDocumentRead.model_validate)
