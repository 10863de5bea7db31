"""An API client's token is no user's, a user's is no client's, and scopes hold."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from app.auth.client_deps import ClientCaller, require_scope
from app.auth.scopes import Scope
from tests.auth.factories import client_headers, new_account, new_admin, new_api_client
from tests.auth.test_token_attacks import SECRET, claims_for, hs256
from tests.conftest import AppFactory
from tests.realtime.client import Closed, WsClient

# Operations a client token may call (with the scope they need); every other operation
# that takes a user's token must refuse a client's.
CLIENT_OPERATIONS = {
    "read_alert",
    "list_alerts",
    "issue_alert",
    "update_alert",
    "cancel_alert",
    "list_incidents",
    "read_incident",
    "submit_incident",
}


def user_operations(app: FastAPI) -> list[tuple[str, str, str]]:
    found = []
    for path, methods in app.openapi()["paths"].items():
        for method, operation in methods.items():
            schemes = {name for s in operation.get("security", []) for name in s}
            if "OAuth2PasswordBearer" in schemes and operation["operationId"] not in (
                CLIENT_OPERATIONS
            ):
                found.append((method, path, operation["operationId"]))
    return found


async def test_every_user_operation_refuses_a_client_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    made = await new_api_client(client, admin, tuple(s.value for s in Scope))
    headers = await client_headers(client, made)
    operations = user_operations(app)
    assert len(operations) > 30  # the document lists them: this test reaches them all
    for method, path, name in operations:
        url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        answer = await client.request(method, url, headers=headers, json={})
        assert answer.status_code == 401, (name, answer.status_code, answer.text)
    me = await client.get("/v1/me", headers=headers)
    assert me.json()["type"].endswith(":unauthenticated")


async def test_a_client_token_is_refused_on_the_websocket(app_factory: AppFactory) -> None:
    async with app_factory(ws_auth_timeout_s=0.5) as (app, client):
        admin = await new_admin(app, client)
        headers = await client_headers(client, await new_api_client(client, admin))
        async with WsClient(app) as ws:
            await ws.auth(headers["Authorization"].removeprefix("Bearer "))
            with pytest.raises(Closed) as closed:
                await ws.receive()
        assert closed.value.code == 4401


def claims_for_client(**changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    client_id = str(uuid.uuid4())
    claims: dict[str, Any] = {
        "iss": "neighbourwatch",
        "aud": "neighbourwatch-api",
        "sub": f"client:{client_id}",
        "client_id": client_id,
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "jti": uuid.uuid4().hex,
        "role": "client",
        **changes,
    }
    return {k: v for k, v in claims.items() if v is not None}


def forged(**changes: Any) -> dict[str, str]:
    """A client token signed with the app's key: one only a key holder could make."""
    return {"Authorization": f"Bearer {hs256(claims_for_client(**changes))}"}


@pytest.mark.parametrize(
    "changes",
    [
        {"role": "admin"},  # a client subject with a user's role
        {"sub": str(uuid.uuid4())},  # a user subject with the client role
        {"client_id": str(uuid.uuid4())},  # the subject names another client
        {"scope": None},  # no scopes at all
    ],
    ids=["client-sub-admin-role", "user-sub-client-role", "mismatched-id", "no-scope"],
)
async def test_half_client_tokens_are_no_tokens(
    app: FastAPI, client: httpx.AsyncClient, changes: dict[str, Any]
) -> None:
    headers = forged(**{"scope": "alerts:read", **changes})
    assert (await client.get("/v1/me", headers=headers)).status_code == 401
    assert (await client.get("/v1/alerts", headers=headers)).status_code == 401


async def test_a_token_for_a_client_that_does_not_exist_is_401(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = forged(scope="alerts:read")
    assert (await client.get("/v1/alerts", headers=headers)).status_code == 401


async def test_a_scope_the_client_lost_is_gone_from_its_tokens(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A token claims scopes its client no longer holds (as if edited in the database,
    or signed by someone with the key): only the client's own count."""
    admin = await new_admin(app, client)
    made = await new_api_client(client, admin, ("incidents:read",))
    token, _ = app.state.auth.tokens.issue_client_access(uuid.UUID(made.id), ["alerts:read"])
    answer = await client.get("/v1/alerts", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403
    assert answer.json()["scope"] == "alerts:read"


def scoped_app(app: FastAPI) -> FastAPI:
    """The app with one operation only clients with `webhooks` may call."""

    @app.get("/test/scoped")
    async def read_scoped(caller: ClientCaller = require_scope(Scope.webhooks)) -> dict[str, Any]:
        return {"client_id": str(caller.client.id), "scopes": sorted(caller.scopes)}

    return app


async def test_require_scope_admits_the_scope_and_names_what_is_missing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    scoped_app(app)
    admin = await new_admin(app, client)
    made = await new_api_client(client, admin, ("webhooks", "alerts:read"))
    ok = await client.get("/test/scoped", headers=await client_headers(client, made))
    assert ok.status_code == 200
    assert ok.json() == {"client_id": made.id, "scopes": ["alerts:read", "webhooks"]}

    narrowed = await client_headers(client, made, scope="alerts:read")
    refused = await client.get("/test/scoped", headers=narrowed)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["scope"] == "webhooks"
    assert "webhooks" in problem["detail"]
    assert problem["type"].endswith(":insufficient-scope")
    assert 'scope="webhooks"' in refused.headers["www-authenticate"]

    # A user's token carries no scopes, whoever the user is, even one that says it does.
    admin_with_scope = {"Authorization": f"Bearer {hs256(claims_for(admin, scope='webhooks'))}"}
    for headers in (admin.headers, admin_with_scope):
        answer = await client.get("/test/scoped", headers=headers)
        assert answer.status_code == 403, answer.text
    assert (await client.get("/test/scoped")).status_code == 401


async def test_a_user_token_reads_alerts_by_the_users_rules_not_a_clients(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    resident = await new_account(client)
    listed = await client.get("/v1/alerts", headers=resident.headers)
    assert listed.status_code == 200
    assert listed.json()["items"] == []
    claims = jwt.decode(
        resident.access_token, SECRET, algorithms=["HS256"], audience="neighbourwatch-api"
    )
    assert "scope" not in claims
    assert claims["role"] == "resident"
