"""Accounts for tests: registered and signed in through the API, as an app would."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field

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
