"""Account and token rules: registration, the OAuth2 grants, rotation, logout, roles."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.models import RefreshToken, Role, User
from app.auth.passwords import PasswordHasher
from app.auth.schemas import AdminUserUpdate, MeUpdate, RegisterRequest, TokenResponse
from app.auth.tokens import TokenService, hash_refresh_token, new_refresh_token
from app.db import utcnow
from app.geo.validation import AreaLimits, checked_area
from app.problems import Problem, conflict, invalid, not_found, too_many_requests
from app.ratelimit import HOUR, Rate, RateLimiter
from app.settings import Settings


@dataclass(frozen=True)
class AuthContext:
    """What the auth rules need besides the session; one per app."""

    settings: Settings
    tokens: TokenService
    hasher: PasswordHasher
    limiter: RateLimiter


class OAuthError(Exception):
    """An error the token endpoint answers in RFC 6749 §5.2 form."""

    def __init__(
        self, error: str, description: str, status: int = 400, retry_after_s: int | None = None
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.retry_after_s = retry_after_s


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(col(User.email) == email.lower()))
    return result.scalar_one_or_none()


async def register(
    session: AsyncSession, ctx: AuthContext, data: RegisterRequest, address: str
) -> User:
    await ctx.limiter.take(
        Rate(ctx.settings.registrations_per_address_per_hour, HOUR),
        f"register:{address}",
        "Too many accounts were created from this address; try again later.",
    )
    password_hash = await ctx.hasher.hash(data.password)
    if await get_user_by_email(session, data.email) is not None:
        raise conflict("An account with this email exists already.", kind="email-taken")
    user = User(
        email=data.email.lower(),
        password_hash=password_hash,
        display_name=data.display_name,
        role=Role.resident.value,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise conflict("An account with this email exists already.", kind="email-taken") from exc
    return user


async def issue_tokens(
    session: AsyncSession, ctx: AuthContext, user: User, family_id: uuid.UUID | None = None
) -> TokenResponse:
    access, expires_in = ctx.tokens.issue_access(user.id, user.role)
    refresh, refresh_hash = new_refresh_token()
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id or uuid.uuid4(),
            token_hash=refresh_hash,
            expires_at=utcnow() + timedelta(seconds=ctx.settings.refresh_token_ttl_s),
        )
    )
    await session.flush()
    return TokenResponse(access_token=access, expires_in=expires_in, refresh_token=refresh)


def _login_limits(settings: Settings, email: str, address: str) -> list[tuple[Rate, str]]:
    """What a failed sign-in counts against: the (account, address) pair, the address,
    and the account from everywhere, at a much higher count (OWASP, "Account lockout")."""
    window = settings.login_failure_window_s
    # Hashed: the limiter's store (Redis) never holds an email, erased account or not.
    account = hashlib.sha256(email.lower().encode()).hexdigest()[:32]
    return [
        (Rate(settings.login_failures_per_pair, window), f"login:pair:{account}:{address}"),
        (Rate(settings.login_failures_per_address, window), f"login:address:{address}"),
        (Rate(settings.login_failures_per_account, window), f"login:account:{account}"),
    ]


async def refuse_while_limited(
    ctx: AuthContext, limits: list[tuple[Rate, str]], attempts: str
) -> None:
    """429 (`temporarily_unavailable`) while any of these failure limits is full."""
    wait = max([await ctx.limiter.retry_after(rate, key) for rate, key in limits])
    if wait:
        raise OAuthError(
            "temporarily_unavailable",
            f"Too many failed {attempts}; try again in {wait} seconds.",
            status=429,
            retry_after_s=wait,
        )


async def count_failure(ctx: AuthContext, limits: list[tuple[Rate, str]]) -> None:
    for rate, key in limits:
        await ctx.limiter.hit(rate, key)


async def password_grant(
    session: AsyncSession, ctx: AuthContext, email: str, password: str, address: str
) -> TokenResponse:
    limits = _login_limits(ctx.settings, email, address)
    # Checked before the password is hashed, so a guesser cannot burn our CPU either.
    await refuse_while_limited(ctx, limits, "sign-in attempts")
    user = await get_user_by_email(session, email)
    if not await ctx.hasher.verify(password, user.password_hash if user else None) or not user:
        await count_failure(ctx, limits)
        raise OAuthError("invalid_grant", "The email or password is wrong.")
    # An honest user's earlier typos here do not count against their next sign-in.
    pair_rate, pair_key = limits[0]
    await ctx.limiter.reset(pair_rate, pair_key)
    return await issue_tokens(session, ctx, user)


async def reauthenticate(
    ctx: AuthContext,
    user: User,
    address: str,
    *,
    password: str | None,
    firebase_uid: str | None,
) -> None:
    """Make the caller prove again that they are `user` before an act a stolen access
    token must not be enough for (erasure): the password, or for an account without
    one, a fresh Firebase ID token of its linked uid (already verified: `firebase_uid`).
    Failures count against the sign-in limits, so this is no password oracle."""
    limits = _login_limits(ctx.settings, user.email, address)
    wait = max([await ctx.limiter.retry_after(rate, key) for rate, key in limits])
    if wait:
        raise too_many_requests(wait, f"Too many failed attempts; try again in {wait} seconds.")
    if user.password_hash is not None:
        ok = password is not None and await ctx.hasher.verify(password, user.password_hash)
    else:
        ok = firebase_uid is not None and firebase_uid == user.firebase_uid
    if not ok:
        await count_failure(ctx, limits)
        what = "password" if user.password_hash is not None else "Firebase ID token"
        raise Problem(
            401,
            f"The {what} does not confirm that this is your account.",
            kind="reauthentication-failed",
        )


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


async def refresh_grant(session: AsyncSession, ctx: AuthContext, token: str) -> TokenResponse:
    """Rotate a refresh token. Reuse of a rotated token revokes its whole family.

    The caller must commit even when this raises: a detected reuse has to stick.
    """
    result = await session.execute(
        select(RefreshToken).where(col(RefreshToken.token_hash) == hash_refresh_token(token))
    )
    stored = result.scalar_one_or_none()
    invalid = OAuthError("invalid_grant", "The refresh token is invalid, expired or revoked.")
    if stored is None or stored.revoked_at is not None:
        raise invalid
    if stored.rotated_at is not None:
        await _revoke_family(session, stored.family_id)
        raise invalid
    if stored.expires_at <= utcnow():
        raise invalid
    # Conditional update: of two concurrent uses of one token, exactly one rotates it
    # and the other is treated as the reuse it is.
    rotated = await session.execute(
        update(RefreshToken)
        .where(
            col(RefreshToken.id) == stored.id,
            col(RefreshToken.rotated_at).is_(None),
            col(RefreshToken.revoked_at).is_(None),
        )
        .values(rotated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if rotated.rowcount != 1:  # type: ignore[attr-defined]
        await _revoke_family(session, stored.family_id)
        raise invalid
    user = await get_user(session, stored.user_id)
    if user is None:
        raise invalid
    return await issue_tokens(session, ctx, user, family_id=stored.family_id)


async def logout(session: AsyncSession, token: str) -> None:
    result = await session.execute(
        select(col(RefreshToken.family_id)).where(
            col(RefreshToken.token_hash) == hash_refresh_token(token)
        )
    )
    family_id = result.scalar_one_or_none()
    if family_id is not None:
        await _revoke_family(session, family_id)


async def update_me(session: AsyncSession, user: User, data: MeUpdate) -> User:
    for field, value in data.model_dump(exclude_unset=True).items():
        if field == "display_name" and value is None:
            raise invalid("display_name", "cannot be null")
        setattr(user, field, value)
    await session.flush()
    return user


async def admin_update_user(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, data: AdminUserUpdate
) -> User:
    user = await get_user(session, user_id)
    if user is None:
        raise not_found("user")
    changes = data.model_dump(exclude_unset=True, mode="json")
    new_role = changes.get("role", user.role)
    if user.role == Role.admin and new_role != Role.admin:
        # Locked, so that two admins demoting each other at once cannot both succeed.
        admins = await session.scalars(
            select(col(User.id)).where(col(User.role) == Role.admin.value).with_for_update()
        )
        if len(admins.all()) <= 1:
            raise conflict("The last admin cannot be demoted.", kind="last-admin")
    user.role = new_role
    if data.jurisdiction is not None:
        limits = AreaLimits(25, 200_000, settings.max_jurisdiction_km2)
        checked_area("jurisdiction", data.jurisdiction, limits)
        user.jurisdiction = changes["jurisdiction"]
    if new_role != Role.agency:
        user.jurisdiction = None
    await session.flush()
    return user


async def create_admin(
    session: AsyncSession, ctx: AuthContext, email: str, password: str, display_name: str
) -> tuple[User, bool]:
    """Create an admin, or promote (and re-password) an existing account. True if created."""
    existing = await get_user_by_email(session, email)
    password_hash = await ctx.hasher.hash(password)
    if existing is not None:
        existing.role = Role.admin.value
        existing.password_hash = password_hash
        await session.flush()
        return existing, False
    user = User(
        email=email.lower(),
        password_hash=password_hash,
        display_name=display_name,
        role=Role.admin.value,
    )
    session.add(user)
    await session.flush()
    return user, True
