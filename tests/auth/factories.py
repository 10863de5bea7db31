"""Accounts for tests: registered and signed in through the API, as an app would."""

from __future__ import annotations

import base64
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import httpx
from fastapi import FastAPI

from app.auth import service

_counter = itertools.count(1)
PASSWORD = "correct horse battery staple"


@dataclass
class Account:
    id: uuid.UUID
    email: str
    password: str
    access_token: str
    refresh_token: str
    headers: dict[str, str] = field(default_factory=dict)


async def sign_in(
    client: httpx.AsyncClient,
    email: str,
    password: str = PASSWORD,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": email, "password": password},
        headers=headers,
    )


async def signed_in(
    client: httpx.AsyncClient, user_id: uuid.UUID | None, email: str, password: str = PASSWORD
) -> Account:
    tokens = await sign_in(client, email, password)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    if user_id is None:
        user_id = uuid.UUID((await client.get("/v1/me", headers=headers)).json()["id"])
    return Account(user_id, email, password, body["access_token"], body["refresh_token"], headers)


async def new_account(
    client: httpx.AsyncClient, *, display_name: str = "Resident", password: str = PASSWORD
) -> Account:
    email = f"user{next(_counter)}-{uuid.uuid4().hex[:6]}@example.org"
    registered = await client.post(
        "/v1/auth/register",
        json={"email": email, "password": password, "display_name": display_name},
    )
    assert registered.status_code == 201, registered.text
    return await signed_in(client, uuid.UUID(registered.json()["id"]), email, password)


async def new_admin(app: FastAPI, client: httpx.AsyncClient) -> Account:
    """An admin made the way `nwatch create-admin` makes one, then signed in."""
    email = f"admin{next(_counter)}-{uuid.uuid4().hex[:6]}@example.org"
    async with app.state.sessionmaker() as session, session.begin():
        await service.create_admin(session, app.state.auth, email, PASSWORD, "Admin")
    return await signed_in(client, None, email)


@dataclass
class ApiClientCredentials:
    id: str
    secret: str
    body: dict[str, Any]


async def new_api_client(
    client: httpx.AsyncClient,
    creator: Account,
    scopes: tuple[str, ...] = ("alerts:read",),
    **fields: Any,
) -> ApiClientCredentials:
    """An API client made through the admin endpoint by `creator` (an admin or officer)."""
    answer = await client.post(
        "/v1/admin/clients",
        headers=creator.headers,
        json={"name": "Borough dashboard", "scopes": list(scopes), **fields},
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return ApiClientCredentials(body["client_id"], body["client_secret"], body)


def basic(client_id: str, secret: str) -> dict[str, str]:
    """HTTP Basic as RFC 6749 §2.3.1 has it: each part form-urlencoded first."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def client_token(
    client: httpx.AsyncClient,
    credentials: ApiClientCredentials,
    scope: str | None = None,
    secret: str | None = None,
) -> httpx.Response:
    """The client-credentials grant, authenticating with HTTP Basic."""
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    headers = basic(credentials.id, secret if secret is not None else credentials.secret)
    return await client.post("/v1/auth/token", data=data, headers=headers)


async def client_headers(
    client: httpx.AsyncClient, credentials: ApiClientCredentials, scope: str | None = None
) -> dict[str, str]:
    answer = await client_token(client, credentials, scope)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}
