"""Authentication dependencies: who is calling, and may they."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from app.auth import service
from app.auth.models import Role, User
from app.auth.service import AuthContext
from app.auth.tokens import AccessClaims, InvalidToken
from app.db import SessionDep
from app.problems import forbidden, unauthenticated
from app.ratelimit import Rate, RateLimiter
from app.settings import Settings

# auto_error=False: a missing token is answered by us, as a problem document.
oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/v1/auth/token", refreshUrl="/v1/auth/token", auto_error=False
)


async def get_auth_context(request: Request) -> AuthContext:
    ctx: AuthContext = request.app.state.auth
    return ctx


AuthContextDep = Annotated[AuthContext, Depends(get_auth_context)]


async def get_access_claims(
    ctx: AuthContextDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> AccessClaims:
    """A valid access token's claims, the account not yet read: for a route that reads
    it itself (report submission reads a whole batch's accounts at once)."""
    if not token:
        raise unauthenticated()
    try:
        return ctx.tokens.verify_access(token)
    except InvalidToken as exc:
        raise unauthenticated("The access token is invalid or expired.") from exc


AccessClaimsDep = Annotated[AccessClaims, Depends(get_access_claims)]


async def get_current_user(session: SessionDep, claims: AccessClaimsDep) -> User:
    # The account is read on every request: a deleted user's tokens stop working at
    # once, and a role change takes effect without waiting for the token to expire.
    user = await service.get_user(session, claims.user_id)
    if user is None:
        raise unauthenticated("The access token is invalid or expired.")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def require_admin(user: CurrentUser) -> User:
    if user.role != Role.admin:
        raise forbidden("Only an admin may do this.")
    return user


AdminUser = Annotated[User, Depends(require_admin)]


def _per(seconds: int) -> str:
    units = [(86_400, "day"), (3600, "hour"), (60, "minute"), (1, "second")]
    for size, name in units:
        if seconds % size == 0:
            n = seconds // size
            return name if n == 1 else f"{n} {name}s"
    return f"{seconds} seconds"  # pragma: no cover - every size divides by 1


def rate_limit(
    scope: str, rate: Callable[[Settings, User], Rate], what: str, *, per_path: str | None = None
) -> Any:
    """A route dependency counting one `scope` event per call by the caller (and per
    path parameter `per_path`, e.g. per group), answering 429 with Retry-After beyond
    `rate`. Attempts count, answered or refused: that is what costs us and others."""

    async def check(request: Request, user: CurrentUser) -> None:
        settings: Settings = request.app.state.settings
        limiter: RateLimiter = request.app.state.limiter
        key = f"{scope}:{user.id}"
        if per_path is not None:
            value = str(request.path_params.get(per_path, ""))
            with contextlib.suppress(ValueError):  # one key per id however it is spelt
                value = str(uuid.UUID(value))
            key += f":{value}"
        limit = rate(settings, user)
        await limiter.take(limit, key, f"At most {limit.amount} {what} per {_per(limit.per_s)}.")

    return Depends(check)
