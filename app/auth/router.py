from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated, Any
from urllib.parse import unquote_plus

from fastapi import Form, Request, Response, status
from fastapi.responses import JSONResponse

from app.auth import client_router, clients, firebase, service
from app.auth.deps import AdminUser, AuthContextDep, CurrentUser
from app.auth.schemas import (
    AdminUserUpdate,
    FirebaseSignIn,
    LogoutRequest,
    MeUpdate,
    OAuthError,
    RegisterRequest,
    TokenResponse,
    UserRead,
)
from app.db import SessionDep
from app.middleware import client_address
from app.problems import Problem
from app.routing import make_router, problem_responses

router = make_router(prefix="/v1", tags=["auth"])
jwks_router = make_router(tags=["auth"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": OAuthError, "description": "RFC 6749 §5.2 error"},
    401: {
        "model": OAuthError,
        "description": "`invalid_client`: client authentication failed (with "
        "`WWW-Authenticate: Basic` when it was tried with HTTP Basic)",
    },
    429: {
        "model": OAuthError,
        "description": "Too many failed sign-ins from this address, for this account from "
        "this address, or (at a much higher count) for this account; see Retry-After",
    },
}


@router.post(
    "/auth/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses=problem_responses(409, 429),
)
async def register_user(
    data: RegisterRequest, request: Request, session: SessionDep, ctx: AuthContextDep
) -> UserRead:
    """Create a resident account (at most NW_REGISTRATIONS_PER_ADDRESS_PER_HOUR from one
    client address)."""
    user = await service.register(session, ctx, data, client_address(request))
    return UserRead.model_validate(user)


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """Client id and secret from HTTP Basic (RFC 6749 §2.3.1: each form-urlencoded
    before being joined with a colon); None when the request does not use Basic."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise service.OAuthError(
            "invalid_client", "The Basic credentials are malformed.", status=401
        ) from exc
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise service.OAuthError(
            "invalid_client", "The Basic credentials are malformed.", status=401
        )
    return unquote_plus(client_id), unquote_plus(secret)


def _client_credentials(
    authorization: str | None, client_id: str | None, client_secret: str | None
) -> tuple[str, str]:
    """RFC 6749 §2.3: by HTTP Basic or by form fields, never both at once."""
    credentials = _basic_credentials(authorization)
    if credentials is not None and (client_id is not None or client_secret is not None):
        raise service.OAuthError(
            "invalid_request", "Authenticate the client with Basic or the form, not both."
        )
    if credentials is not None:
        return credentials
    if not client_id or not client_secret:
        raise service.OAuthError(
            "invalid_client",
            "Client authentication is required (HTTP Basic, or client_id and client_secret).",
            status=401,
        )
    return client_id, client_secret


@router.post("/auth/token", response_model=TokenResponse, responses=_OAUTH_ERRORS)
async def create_token(
    request: Request,
    session: SessionDep,
    ctx: AuthContextDep,
    grant_type: Annotated[
        str | None,
        Form(description="`password`, `refresh_token` or `client_credentials`"),
    ] = None,
    username: Annotated[str | None, Form(description="The account's email")] = None,
    password: Annotated[str | None, Form()] = None,
    refresh_token: Annotated[str | None, Form()] = None,
    scope: Annotated[
        str | None,
        Form(description="client_credentials: space-separated scopes (default: all the client's)"),
    ] = None,
    client_id: Annotated[str | None, Form(description="client_credentials without Basic")] = None,
    client_secret: Annotated[
        str | None, Form(description="client_credentials without Basic")
    ] = None,
) -> Response:
    """OAuth2 token endpoint (RFC 6749): the password, refresh_token and
    client_credentials grants.

    Form-encoded, as RFC 6749 requires; errors are answered as RFC 6749 §5.2. An API
    client authenticates with HTTP Basic or with `client_id` and `client_secret` in the
    form, not both; its answer has no refresh token.
    """
    basic = False
    try:
        if grant_type == "password":
            if not username or not password:
                raise service.OAuthError("invalid_request", "username and password are required.")
            answer = await service.password_grant(
                session, ctx, username, password, client_address(request)
            )
        elif grant_type == "refresh_token":
            if not refresh_token:
                raise service.OAuthError("invalid_request", "refresh_token is required.")
            answer = await service.refresh_grant(session, ctx, refresh_token)
        elif grant_type == "client_credentials":
            # Read here, not declared: OpenAPI ignores a parameter named Authorization.
            authorization = request.headers.get("authorization")
            basic = (authorization or "").partition(" ")[0].lower() == "basic"
            answer = await clients.client_credentials_grant(
                session,
                ctx,
                *_client_credentials(authorization, client_id, client_secret),
                scope,
                client_address(request),
            )
        elif not grant_type:
            raise service.OAuthError(
                "invalid_request",
                "grant_type is required (the body must be application/x-www-form-urlencoded).",
            )
        else:
            raise service.OAuthError(
                "unsupported_grant_type", f"grant_type {grant_type!r} is not supported."
            )
    except service.OAuthError as exc:
        # Answered, not raised: the transaction still commits, which a detected refresh
        # token reuse needs so that its family stays revoked.
        headers = dict(_NO_STORE)
        if exc.retry_after_s is not None:
            headers["Retry-After"] = str(exc.retry_after_s)
        if exc.error == "invalid_client" and basic:
            headers["WWW-Authenticate"] = 'Basic realm="neighbourwatch"'
        body = OAuthError(error=exc.error, error_description=exc.description)
        return JSONResponse(body.model_dump(exclude_none=True), exc.status, headers=headers)
    return JSONResponse(answer.model_dump(exclude_none=True), headers=_NO_STORE)


@router.post(
    "/auth/firebase", response_model=TokenResponse, responses=problem_responses(401, 409, 501)
)
async def firebase_sign_in(
    data: FirebaseSignIn, request: Request, session: SessionDep, ctx: AuthContextDep
) -> Response:
    """Sign in with a Firebase Auth ID token; answered with our own tokens.

    Links to the account with this Firebase uid, else to the one with the token's verified
    email, else creates a resident.
    """
    verifier: firebase.FirebaseVerifier | None = request.app.state.firebase
    if verifier is None:
        raise Problem(501, "Firebase sign-in is not configured here.", kind="not-configured")
    identity = await verifier.verify(data.id_token)
    user = await firebase.sign_in(session, identity)
    answer = await service.issue_tokens(session, ctx, user)
    return JSONResponse(answer.model_dump(exclude_none=True), headers=_NO_STORE)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout_session(data: LogoutRequest, session: SessionDep) -> None:
    """Revoke a refresh token and every token rotated from the same sign-in."""
    await service.logout(session, data.refresh_token)


@router.get("/me", response_model=UserRead, responses=problem_responses(401))
async def read_me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)


@router.patch("/me", response_model=UserRead, responses=problem_responses(401))
async def update_me(data: MeUpdate, user: CurrentUser, session: SessionDep) -> UserRead:
    user = await service.update_me(session, user, data)
    return UserRead.model_validate(user)


@router.patch(
    "/admin/users/{user_id}",
    response_model=UserRead,
    tags=["admin"],
    responses=problem_responses(401, 403, 404, 409),
)
async def update_user_role(
    user_id: uuid.UUID,
    data: AdminUserUpdate,
    _admin: AdminUser,
    session: SessionDep,
    ctx: AuthContextDep,
) -> UserRead:
    """Set a user's global role, and an agency user's jurisdiction (admin only)."""
    user = await service.admin_update_user(session, ctx.settings, user_id, data)
    return UserRead.model_validate(user)


router.include_router(client_router.router)


@jwks_router.get("/.well-known/jwks.json")
async def read_jwks(ctx: AuthContextDep) -> dict[str, list[dict[str, Any]]]:
    """Public keys for verifying access tokens (empty when tokens are HS256)."""
    return ctx.tokens.jwks()
