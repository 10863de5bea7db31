"""Who an API client is, and whether its token carries the scope an operation needs.

A client's access token is told apart from a user's by `TokenService` (`sub` is
`client:<id>`, `role` is `client`): every user dependency refuses one, and these refuse
a user's. The client's row is read on every request, so a revoked client's tokens stop
working at once, as a deleted user's do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from app.auth import service
from app.auth.deps import oauth2_scheme
from app.auth.models import ApiClient, User
from app.auth.scopes import SCOPE_DESCRIPTIONS, Scope
from app.auth.service import AuthContext
from app.auth.tokens import AccessClaims, InvalidToken
from app.db import SessionDep, reading
from app.problems import Problem, unauthenticated
from app.ratelimit import Rate

MINUTE = 60


class ClientCredentialsBearer(OAuth2):
    """The client-credentials flow (RFC 6749 §4.4) as an OpenAPI security scheme, with
    every scope described; at run time, the bearer token, if any."""

    def __init__(self) -> None:
        flow = OAuthFlowClientCredentials(
            tokenUrl="/v1/auth/token", scopes=dict(SCOPE_DESCRIPTIONS)
        )
        super().__init__(
            flows=OAuthFlows(clientCredentials=flow),
            scheme_name="ApiClient",
            description="An API client's token: `grant_type=client_credentials` at "
            "`/v1/auth/token`, with the client's id and secret (HTTP Basic or form fields).",
            # A missing token is answered by us, as a problem document.
            auto_error=False,
        )

    async def __call__(self, request: HTTPConnection) -> str | None:
        scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
        return token if scheme.lower() == "bearer" and token else None


client_scheme = ClientCredentialsBearer()


@dataclass(frozen=True)
class ClientCaller:
    """An authenticated API client, and the scopes its token still holds."""

    client: ApiClient
    scopes: frozenset[str]


Caller = User | ClientCaller


def insufficient_scope(scope: Scope) -> Problem:
    return Problem(
        403,
        f"This operation needs the scope {scope.value}, which the access token does not carry.",
        kind="insufficient-scope",
        # RFC 6750 §3.1, for OAuth2 libraries that read it.
        headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope.value}"'},
        scope=scope.value,
    )


async def _client_caller(
    request: Request, session: AsyncSession, token: str, scope: Scope
) -> ClientCaller:
    ctx: AuthContext = request.app.state.auth
    try:
        claims = ctx.tokens.verify_client_access(token)
    except InvalidToken as exc:
        raise unauthenticated("The access token is invalid or expired.") from exc
    client = await session.get(ApiClient, claims.client_id)
    if client is None or client.revoked_at is not None:
        raise unauthenticated("The API client has been revoked.")
    limit = Rate(ctx.settings.client_requests_per_minute, MINUTE)
    await ctx.limiter.take(
        limit, f"client:{client.id}", f"At most {limit.amount} requests a minute per API client."
    )
    # A scope taken from the client after the token was issued is gone at once too.
    held = claims.scopes & set(client.scopes)
    if scope.value not in held:
        raise insufficient_scope(scope)
    return ClientCaller(client, frozenset(held))


def require_scope(scope: Scope) -> Any:
    """A dependency for an operation only API clients call: the caller's token must
    carry `scope` (403 naming it). A user's token carries no scopes: 403 too."""

    # A default, not an annotation: annotations are evaluated in the module's globals
    # (`from __future__ import annotations`), where `scope` is not.
    bearer = Security(client_scheme, scopes=[scope.value])

    async def check_scope(
        request: Request, session: SessionDep, token: str | None = bearer
    ) -> ClientCaller:
        if not token:
            raise unauthenticated()
        ctx: AuthContext = request.app.state.auth
        try:
            ctx.tokens.verify_access(token)
        except InvalidToken:
            return await _client_caller(request, session, token, scope)
        raise insufficient_scope(scope)

    return Depends(check_scope)


def user_or_client(scope: Scope) -> Any:
    """A dependency for an operation users and API clients both call: a user, by the
    operation's own rules for users, or a client whose token carries `scope`. The
    OpenAPI document lists the two schemes as alternatives."""

    bearer = Security(client_scheme, scopes=[scope.value])  # a default, as above

    async def check_caller(
        request: Request,
        session: SessionDep,
        user_token: Annotated[str | None, Depends(oauth2_scheme)],
        client_token: str | None = bearer,
    ) -> Caller:
        token = user_token or client_token
        if not token:
            raise unauthenticated()
        ctx: AuthContext = request.app.state.auth
        try:
            claims = ctx.tokens.verify_access(token)
        except InvalidToken:
            return await _client_caller(request, session, token, scope)
        user = await service.get_user(session, claims.user_id)
        if user is None:
            raise unauthenticated("The access token is invalid or expired.")
        return user

    return Depends(check_caller)


# Defined once, so that a route naming it twice (directly and through AlertFromPath's
# sibling) runs it once: one rate-limit count per request.
AlertsReader = Annotated[Caller, user_or_client(Scope.alerts_read)]
AlertsWriter = Annotated[Caller, user_or_client(Scope.alerts_write)]
IncidentsReader = Annotated[Caller, user_or_client(Scope.incidents_read)]


def claims_or_client(scope: Scope) -> Any:
    """As `user_or_client`, but a user is given as their token's claims, the account not
    read: for report submission, which reads a whole batch's accounts at once. The
    client is read in a session of its own, ended before the operation goes on: on
    SQLite the request's would hold the write lock that the batch writer waits for."""

    bearer = Security(client_scheme, scopes=[scope.value])  # a default, as above

    async def check_caller(
        request: Request,
        user_token: Annotated[str | None, Depends(oauth2_scheme)],
        client_token: str | None = bearer,
    ) -> AccessClaims | ClientCaller:
        token = user_token or client_token
        if not token:
            raise unauthenticated()
        ctx: AuthContext = request.app.state.auth
        try:
            return ctx.tokens.verify_access(token)
        except InvalidToken:
            async with reading(request.app.state.sessionmaker) as session:
                return await _client_caller(request, session, token, scope)

    return Depends(check_caller)


IncidentsWriter = Annotated[AccessClaims | ClientCaller, claims_or_client(Scope.incidents_write)]
