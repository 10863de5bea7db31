from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any
from urllib.parse import unquote_plus

from fastapi import HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from app.auth import client_router, clients, firebase, service
from app.auth.deps import AdminUser, AuthContextDep, CurrentUser
from app.auth.schemas import (
    AdminUserUpdate,
    ClientCredentialsGrant,
    FirebaseSignIn,
    LogoutRequest,
    MeUpdate,
    OAuthError,
    PasswordGrant,
    RefreshTokenGrant,
    RegisterRequest,
    TokenRequest,
    TokenResponse,
    UserRead,
)
from app.db import SessionDep
from app.middleware import client_address
from app.openapi import component
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


_GRANTS = (PasswordGrant, RefreshTokenGrant, ClientCredentialsGrant)
_TOKEN_REQUEST: TypeAdapter[PasswordGrant | RefreshTokenGrant | ClientCredentialsGrant] = (
    TypeAdapter(TokenRequest)
)
_PARAMETERS = frozenset(name for grant in _GRANTS for name in grant.model_fields)
_FORM = "application/x-www-form-urlencoded"
# The form is read by the handler, not declared as FastAPI Form parameters, so that the
# document can say which fields each grant takes: one schema per grant, told apart by
# `grant_type`, which both generated clients and schemathesis follow.
_TOKEN_BODY = {
    "required": True,
    "content": {
        _FORM: {
            "schema": {
                "oneOf": [component(grant) for grant in _GRANTS],
                "discriminator": {
                    "propertyName": "grant_type",
                    "mapping": {
                        "password": "#/components/schemas/PasswordGrant",
                        "refresh_token": "#/components/schemas/RefreshTokenGrant",
                        "client_credentials": "#/components/schemas/ClientCredentialsGrant",
                    },
                },
            }
        }
    },
}


async def _token_form(
    request: Request,
) -> PasswordGrant | RefreshTokenGrant | ClientCredentialsGrant:
    """The form, checked against its grant's schema; every refusal is RFC 6749's."""
    try:
        form = await request.form()
    except HTTPException as exc:
        raise service.OAuthError("invalid_request", "The form is malformed.") from exc
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if name not in _PARAMETERS:
            continue  # RFC 6749 §3.2: unknown parameters are ignored
        if name in fields:  # and none of ours may be given more than once
            raise service.OAuthError("invalid_request", f"{name} is given more than once.")
        if not isinstance(value, str):
            raise service.OAuthError("invalid_request", f"{name} must be a form field.")
        fields[name] = value
    grant_type = fields.get("grant_type")
    if not grant_type:
        raise service.OAuthError(
            "invalid_request",
            f"grant_type is required (the body must be {_FORM}).",
        )
    if grant_type not in {"password", "refresh_token", "client_credentials"}:
        raise service.OAuthError(
            "unsupported_grant_type", f"grant_type {grant_type!r} is not supported."
        )
    try:
        return _TOKEN_REQUEST.validate_python(fields)
    except ValidationError as exc:
        wrong = sorted({str(e["loc"][-1]) for e in exc.errors() if e["loc"]})
        raise service.OAuthError(
            "invalid_request", f"{', '.join(wrong)}: missing or invalid for {grant_type}."
        ) from None


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    responses=_OAUTH_ERRORS,
    openapi_extra={"requestBody": _TOKEN_BODY},
)
async def create_token(request: Request, session: SessionDep, ctx: AuthContextDep) -> Response:
    """OAuth2 token endpoint (RFC 6749): the password, refresh_token and
    client_credentials grants.

    Form-encoded, as RFC 6749 requires, with the fields of the grant `grant_type` names;
    errors are answered as RFC 6749 §5.2. An API client authenticates with HTTP Basic or
    with `client_id` and `client_secret` in the form, not both; its answer has no
    refresh token.
    """
    basic = False
    try:
        form = await _token_form(request)
        if isinstance(form, PasswordGrant):
            answer = await service.password_grant(
                session, ctx, form.username, form.password, client_address(request)
            )
        elif isinstance(form, RefreshTokenGrant):
            answer = await service.refresh_grant(session, ctx, form.refresh_token)
        else:
            # Read here, not declared: OpenAPI ignores a parameter named Authorization.
            authorization = request.headers.get("authorization")
            basic = (authorization or "").partition(" ")[0].lower() == "basic"
            answer = await clients.client_credentials_grant(
                session,
                ctx,
                *_client_credentials(authorization, form.client_id, form.client_secret),
                form.scope,
                client_address(request),
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
    """Set a user's global role, and an agency user's jurisdiction (admin only).

    The API clients the user made and could no longer make are revoked at once, their
    tokens with them: all of an officer's when they stop being one (an admin's too when
    demoted), those outside an officer's narrowed jurisdiction: no client goes on acting
    for someone who may no longer act so."""
    user = await service.admin_update_user(session, ctx.settings, user_id, data)
    await clients.revoke_clients_beyond(session, user)
    return UserRead.model_validate(user)


router.include_router(client_router.router)


@jwks_router.get("/.well-known/jwks.json")
async def read_jwks(ctx: AuthContextDep) -> dict[str, list[dict[str, Any]]]:
    """Public keys for verifying access tokens (empty when tokens are HS256)."""
    return ctx.tokens.jwks()
