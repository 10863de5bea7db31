"""POST /v1/auth/firebase, through firebase-admin's Auth-emulator mode."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from app.auth import firebase
from app.auth.firebase import FirebaseIdentity
from app.auth.models import User
from app.problems import Problem
from app.settings import ConfigurationError, Settings
from tests.auth.factories import new_account
from tests.conftest import AppFactory

PROJECT = "nw-test"


def emulator_token(uid: str, project: str = PROJECT, expires_in: int = 3600, **claims: Any) -> str:
    """An ID token as the Auth emulator issues them: unsigned (alg none)."""
    now = int(time.time())
    payload = {
        "iss": f"https://securetoken.google.com/{project}",
        "aud": project,
        "sub": uid,
        "iat": now - 10,
        "exp": now + expires_in,
        "auth_time": now - 10,
        "firebase": {"sign_in_provider": "password", "identities": {}},
        **claims,
    }
    return jwt.encode(payload, "", algorithm="none")


# The emulator mode is refused in the scaled shape (PostgreSQL), so the HTTP tests run on
# the embedded one; the account linking is tested on both databases below.
emulated = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture
async def firebase_client(
    app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
    async with app_factory(firebase_project_id=PROJECT) as (_app, client):
        yield client


async def sign_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/v1/auth/firebase", json={"id_token": token})


async def me(client: httpx.AsyncClient, answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    found: dict[str, Any] = (await client.get("/v1/me", headers=headers)).json()
    return found


@emulated
async def test_a_new_user_is_created_and_a_returning_one_recognised(
    firebase_client: httpx.AsyncClient,
) -> None:
    token = emulator_token("uid-ada", email="Ada@Example.org", email_verified=True, name="Ada")
    first = await sign_in(firebase_client, token)
    assert first.json()["token_type"] == "bearer"
    assert first.json()["refresh_token"]
    assert first.headers["cache-control"] == "no-store"
    ada = await me(firebase_client, first)
    assert ada["email"] == "ada@example.org"
    assert ada["display_name"] == "Ada"
    assert ada["role"] == "resident"
    again = await me(firebase_client, await sign_in(firebase_client, emulator_token("uid-ada")))
    assert again["id"] == ada["id"]
    # Our refresh token works like any other.
    refreshed = await firebase_client.post(
        "/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]},
    )
    assert refreshed.status_code == 200


@emulated
async def test_a_verified_email_links_to_the_existing_account_and_an_unverified_one_does_not(
    firebase_client: httpx.AsyncClient,
) -> None:
    account = await new_account(firebase_client)
    unverified = emulator_token("uid-squatter", email=account.email, email_verified=False)
    squatter = await me(firebase_client, await sign_in(firebase_client, unverified))
    assert squatter["id"] != str(account.id)
    assert squatter["email"].endswith("@users.invalid")
    verified = emulator_token("uid-owner", email=account.email, email_verified=True)
    owner = await me(firebase_client, await sign_in(firebase_client, verified))
    assert owner["id"] == str(account.id)
    # Once linked, the address cannot be taken over by a second Firebase user.
    other = emulator_token("uid-other", email=account.email, email_verified=True)
    clash = await sign_in(firebase_client, other)
    assert clash.status_code == 409
    assert clash.headers["content-type"] == "application/problem+json"


@emulated
@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        emulator_token("uid-x", project="someone-else"),
        emulator_token("uid-x", expires_in=-3600),
        emulator_token(""),
    ],
    ids=["garbage", "other-project", "expired", "no-subject"],
)
async def test_an_invalid_token_is_401(firebase_client: httpx.AsyncClient, token: str) -> None:
    answer = await sign_in(firebase_client, token)
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


async def test_without_firebase_configured_the_endpoint_says_so(
    client: httpx.AsyncClient,
) -> None:
    answer = await sign_in(client, emulator_token("uid-y"))
    assert answer.status_code == 501
    assert answer.json()["detail"] == "Firebase sign-in is not configured here."


def test_the_scaled_shape_refuses_to_start_in_emulator_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scaled = Settings(
        database_url="postgresql+asyncpg://postgres@127.0.0.1/nw",
        jwt_secret=SecretStr("s" * 40),
    )
    scaled.check()  # fine as it is
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
    with pytest.raises(ConfigurationError, match="FIREBASE_AUTH_EMULATOR_HOST"):
        scaled.check()


async def test_accounts_are_linked_by_uid_then_verified_email(app: FastAPI) -> None:
    """The linking rules against each database, below the HTTP layer."""
    async with app.state.sessionmaker() as session, session.begin():
        existing = User(email="known@example.org", display_name="Known", password_hash="x")
        session.add(existing)
    async with app.state.sessionmaker() as session, session.begin():
        new = await firebase.sign_in(session, FirebaseIdentity("uid-1", None, "New"))
        linked = await firebase.sign_in(
            session, FirebaseIdentity("uid-2", "known@example.org", None)
        )
    async with app.state.sessionmaker() as session, session.begin():
        again = await firebase.sign_in(session, FirebaseIdentity("uid-1", None, None))
        assert (again.id, linked.id) == (new.id, existing.id)
        assert linked.firebase_uid == "uid-2"
        with pytest.raises(Problem) as clash:
            await firebase.sign_in(session, FirebaseIdentity("uid-3", "known@example.org", None))
        assert clash.value.status == 409
