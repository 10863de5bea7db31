"""Authentication dependencies: who is calling, and may they."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from app.auth import service
from app.auth.models import Role, User
from app.auth.service import AuthContext
from app.auth.tokens import AccessClaims, InvalidToken
from app.db import SessionDep
from app.problems import forbidden, unauthenticated

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
