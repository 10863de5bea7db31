"""API clients: who may manage them, their secrets, and the client-credentials grant.

Who manages a client: admins, every client; an agency officer, the clients they created
themselves (and only while they are an officer). A client's jurisdiction is fixed when it
is made, inside its officer's; a client without one (admins only) acts everywhere.

Secrets are 256 random bits, shown once and stored as SHA-256, like refresh tokens: with
that much entropy no guess at a stolen hash succeeds, so a slow password hash would only
make every token request (and every guess at the endpoint) cost us CPU, and a keyed hash
would add a secret to manage for nothing. A row is found by its client id and the hashes
compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import outbox
from app.auth.client_schemas import ClientCreate, ClientRead, ClientRotate, ClientWithSecret
from app.auth.models import ApiClient, Role, User
from app.auth.schemas import TokenResponse
from app.auth.scopes import Scope, canonical
from app.auth.service import AuthContext, OAuthError, count_failure, refuse_while_limited
from app.db import utcnow
from app.geo.shapes import contains, from_geojson
from app.geo.validation import AreaLimits, checked_area
from app.groups.models import Group
from app.pagination import Page, newest_first, page_of
from app.problems import conflict, forbidden, invalid, not_found
from app.ratelimit import HOUR, Rate
from app.settings import Settings

# Lets secret scanners (and people) recognise a leaked one.
SECRET_PREFIX = "nwcs_"  # noqa: S105 - a prefix, not a secret


def new_secret() -> tuple[str, str]:
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    return secret, hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(client: ApiClient, secret: str, now: datetime) -> bool:
    candidate = hash_secret(secret)
    current = hmac.compare_digest(candidate, client.secret_hash)
    previous = (
        client.previous_secret_hash is not None
        and client.previous_secret_expires_at is not None
        and now < client.previous_secret_expires_at
        and hmac.compare_digest(candidate, client.previous_secret_hash)
    )
    return current or previous


async def client_by_secret(session: AsyncSession, secret: str, now: datetime) -> ApiClient | None:
    """The unrevoked client whose secret (or previous secret, in its grace period) this
    is: for protocols that send a secret alone (Open311's api_key), looked up by its hash."""
    candidate = hash_secret(secret)
    rows = await session.execute(
        select(ApiClient).where(
            or_(
                col(ApiClient.secret_hash) == candidate,
                col(ApiClient.previous_secret_hash) == candidate,
            )
        )
    )
    for client in rows.scalars():
        if client.revoked_at is None and secret_matches(client, secret, now):
            return client
    return None


def to_read(client: ApiClient) -> ClientRead:
    return ClientRead(
        client_id=client.id,
        name=client.name,
        scopes=[Scope(s) for s in client.scopes],
        jurisdiction=client.jurisdiction,
        group_id=client.group_id,
        created_by=client.created_by,
        created_at=client.created_at,
        rotated_at=client.rotated_at,
        previous_secret_expires_at=client.previous_secret_expires_at,
        revoked_at=client.revoked_at,
    )


def _require_manager(user: User) -> None:
    if user.role not in (Role.admin, Role.agency):
        raise forbidden("Only admins and agency officers manage API clients.")


async def create_client(
    session: AsyncSession, settings: Settings, user: User, data: ClientCreate
) -> ClientWithSecret:
    # The maker's row locked and read afresh (PostgreSQL; SQLite's writers are one at a
    # time): a role change committed since the request read it is seen here, and one not
    # yet committed waits for this client, then revokes it (revoke_clients_beyond).
    await session.refresh(user, ["role", "jurisdiction"], with_for_update=True)
    _require_manager(user)
    jurisdiction: dict[str, Any] | None = None
    if data.jurisdiction is not None:
        limits = AreaLimits(25, 200_000, settings.max_jurisdiction_km2)
        shape = checked_area("jurisdiction", data.jurisdiction, limits)
        jurisdiction = data.jurisdiction.model_dump()
    if user.role == Role.agency:
        if data.group_id is not None:
            raise forbidden("Only an admin may give a client a group.")
        if not user.jurisdiction:
            raise forbidden("Your account has no jurisdiction to give a client.")
        if jurisdiction is None:
            jurisdiction = user.jurisdiction
        elif not contains(from_geojson(user.jurisdiction), shape):
            raise forbidden("The client's jurisdiction must lie inside yours.")
    if data.group_id is not None and await session.get(Group, data.group_id) is None:
        raise invalid("group_id", "no such group", code="not_found")
    secret, secret_hash = new_secret()
    client = ApiClient(
        name=data.name,
        scopes=[s.value for s in data.scopes],
        jurisdiction=jurisdiction,
        group_id=data.group_id,
        created_by=user.id,
        secret_hash=secret_hash,
    )
    session.add(client)
    await session.flush()
    return ClientWithSecret(**to_read(client).model_dump(), client_secret=secret)


async def list_clients(
    session: AsyncSession, user: User, limit: int, cursor: str | None
) -> Page[ClientRead]:
    _require_manager(user)
    stmt = select(ApiClient)
    if user.role != Role.admin:
        stmt = stmt.where(col(ApiClient.created_by) == user.id)
    rows = (
        (
            await session.execute(
                newest_first(stmt, col(ApiClient.created_at), col(ApiClient.id), cursor, limit)
            )
        )
        .scalars()
        .all()
    )
    return page_of(rows, limit, lambda c: (c.created_at, c.id), to_read)


async def load_managed_client(session: AsyncSession, user: User, client_id: uuid.UUID) -> ApiClient:
    """The client if `user` manages it; 404 otherwise (another officer's is not shown)."""
    _require_manager(user)
    client = await session.get(ApiClient, client_id)
    if client is None or (user.role != Role.admin and client.created_by != user.id):
        raise not_found("API client")
    return client


async def rotate_secret(
    session: AsyncSession, client: ApiClient, data: ClientRotate
) -> ClientWithSecret:
    if client.revoked_at is not None:
        raise conflict("The client is revoked.", kind="client-revoked")
    now = utcnow()
    secret, secret_hash = new_secret()
    # Only the secret in use now gets a grace period: rotating twice ends the older one.
    if data.grace_period_s > 0:
        client.previous_secret_hash = client.secret_hash
        client.previous_secret_expires_at = now + timedelta(seconds=data.grace_period_s)
    else:
        client.previous_secret_hash = None
        client.previous_secret_expires_at = None
    client.secret_hash = secret_hash
    client.rotated_at = now
    await session.flush()
    return ClientWithSecret(**to_read(client).model_dump(), client_secret=secret)


def _may_make(user: User, client: ApiClient) -> bool:
    """Whether `user` could make `client` now (as `create_client` allows)."""
    if user.role == Role.admin:
        return True
    if user.role != Role.agency or not user.jurisdiction or client.group_id is not None:
        return False
    reach = client.jurisdiction
    return reach is not None and contains(from_geojson(user.jurisdiction), from_geojson(reach))


async def revoke_clients_beyond(session: AsyncSession, user: User) -> int:
    """After an admin changed `user`'s role or jurisdiction: revoke the clients they made
    that they could no longer make (an officer's all of them when no longer an officer,
    those now outside a narrowed jurisdiction), so that no client acts for someone who
    may not act; how many. Erasure is not this: an erased officer's clients go on
    without them (`created_by` set null), as the agency's integration."""
    made = await session.scalars(
        select(ApiClient).where(
            col(ApiClient.created_by) == user.id, col(ApiClient.revoked_at).is_(None)
        )
    )
    revoked = 0
    for client in made.all():
        if not _may_make(user, client):
            await revoke_client(session, client)
            revoked += 1
    return revoked


async def revoke_client(session: AsyncSession, client: ApiClient) -> None:
    """Revoke: no new token, and its tokens already issued are refused from now on; the
    channels hear of it through the outbox (webhooks disable the client's subscriptions)."""
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        await outbox.emit(session, "client.revoked", {"client_id": str(client.id)})
    client.previous_secret_hash = None
    client.previous_secret_expires_at = None
    await session.flush()


def _auth_limits(settings: Settings, client_id: str, address: str) -> list[tuple[Rate, str]]:
    """What a failed client authentication counts against: as a failed sign-in, the
    (client, address) pair, the address (the very counter sign-ins use, so a guesser
    gains nothing by switching between the two) and the client from everywhere."""
    window = settings.login_failure_window_s
    client = hashlib.sha256(client_id.encode()).hexdigest()[:32]  # any length, one key size
    return [
        (Rate(settings.login_failures_per_pair, window), f"client-auth:pair:{client}:{address}"),
        (Rate(settings.login_failures_per_address, window), f"login:address:{address}"),
        (Rate(settings.login_failures_per_account, window), f"client-auth:client:{client}"),
    ]


def granted_scopes(requested: str | None, held: list[str]) -> list[str]:
    """RFC 6749 §3.3: the space-separated scopes asked for (absent: all the client's),
    each of which the client must hold."""
    if requested is None or not requested.strip():
        return canonical(held)
    asked = set(requested.split())
    unknown = asked - {s.value for s in Scope}
    if unknown:
        raise OAuthError("invalid_scope", "The scope names a scope that does not exist.")
    missing = asked - set(held)
    if missing:
        raise OAuthError(
            "invalid_scope", f"This client is not granted: {' '.join(canonical(missing))}."
        )
    return canonical(asked)


async def client_credentials_grant(
    session: AsyncSession,
    ctx: AuthContext,
    client_id: str,
    secret: str,
    scope: str | None,
    address: str,
) -> TokenResponse:
    settings = ctx.settings
    try:
        parsed: uuid.UUID | None = uuid.UUID(client_id)
    except ValueError:
        parsed = None  # not an id of ours: fails as a wrong secret does, and counts
    # One key per client however its id is spelt (braces, upper case, a urn:uuid:).
    limits = _auth_limits(settings, str(parsed) if parsed else client_id, address)
    await refuse_while_limited(ctx, limits, "client authentications")
    client = await session.get(ApiClient, parsed) if parsed else None
    if (
        client is None
        or client.revoked_at is not None
        or not secret_matches(client, secret, utcnow())
    ):
        await count_failure(ctx, limits)
        raise OAuthError("invalid_client", "Client authentication failed.", status=401)
    scopes = granted_scopes(scope, client.scopes)
    tokens = Rate(settings.client_tokens_per_hour, HOUR)
    if not await ctx.limiter.hit(tokens, f"client-token:{client.id}"):
        wait = await ctx.limiter.retry_after(tokens, f"client-token:{client.id}")
        raise OAuthError(
            "temporarily_unavailable",
            f"At most {tokens.amount} tokens an hour per client: keep a token until it "
            f"expires. Try again in {wait} seconds.",
            status=429,
            retry_after_s=wait,
        )
    access, expires_in = ctx.tokens.issue_client_access(client.id, scopes)
    return TokenResponse(access_token=access, expires_in=expires_in, scope=" ".join(scopes))
