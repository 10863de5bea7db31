"""Registration, sign-in, refresh rotation, logout and the caller's own account."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from tests.auth.factories import PASSWORD, new_account, new_admin, sign_in
from tests.conftest import AppFactory


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(
        "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": token}
    )


async def test_register_returns_the_user_without_secrets(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/v1/auth/register",
        json={"email": "Ann@Example.org", "password": PASSWORD, "display_name": " Ann "},
    )
    assert answer.status_code == 201
    user = answer.json()
    assert set(user) >= {"id", "email", "display_name", "role", "created_at"}
    assert user["email"] == "ann@example.org"
    assert user["display_name"] == "Ann"
    assert user["role"] == "resident"
    assert user["created_at"].endswith("Z")
    assert not any("password" in key for key in user)


async def test_duplicate_email_is_409_whatever_its_case(client: httpx.AsyncClient) -> None:
    body = {"email": "bob@example.org", "password": PASSWORD, "display_name": "Bob"}
    assert (await client.post("/v1/auth/register", json=body)).status_code == 201
    again = await client.post("/v1/auth/register", json={**body, "email": "BOB@example.org"})
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["type"].endswith("email-taken")


async def test_concurrent_registrations_of_one_email_create_one_account(
    client: httpx.AsyncClient,
) -> None:
    body = {"email": "race@example.org", "password": PASSWORD, "display_name": "Racer"}
    answers = await asyncio.gather(*(client.post("/v1/auth/register", json=body) for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409, 409]


async def test_sign_in_answers_rfc6749_tokens(client: httpx.AsyncClient) -> None:
    account = await new_account(client)
    answer = await sign_in(client, account.email.upper())
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["refresh_token"]
    assert body["access_token"]
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == account.email


async def test_wrong_password_and_unknown_email_look_the_same(client: httpx.AsyncClient) -> None:
    account = await new_account(client)
    wrong = await sign_in(client, account.email, "not the password")
    unknown = await sign_in(client, "nobody@example.org")
    for answer in (wrong, unknown):
        assert answer.status_code == 400
        assert answer.json() == {
            "error": "invalid_grant",
            "error_description": "The email or password is wrong.",
        }


async def test_token_endpoint_errors_are_rfc6749(client: httpx.AsyncClient) -> None:
    missing = await client.post("/v1/auth/token", data={})
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
    unsupported = await client.post("/v1/auth/token", data={"grant_type": "implicit"})
    assert unsupported.json()["error"] == "unsupported_grant_type"
    as_json = await client.post(
        "/v1/auth/token", json={"grant_type": "password", "username": "a", "password": "b"}
    )
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"
    no_password = await client.post(
        "/v1/auth/token", data={"grant_type": "password", "username": "a@example.org"}
    )
    assert no_password.json()["error"] == "invalid_request"


async def test_refresh_rotates_and_the_old_token_stops_working(client: httpx.AsyncClient) -> None:
    account = await new_account(client)
    first = await refresh(client, account.refresh_token)
    assert first.status_code == 200
    rotated = first.json()["refresh_token"]
    assert rotated != account.refresh_token
    second = await refresh(client, rotated)
    assert second.status_code == 200
    assert (
        await client.get(
            "/v1/me", headers={"Authorization": f"Bearer {second.json()['access_token']}"}
        )
    ).status_code == 200


async def test_reusing_a_rotated_token_revokes_the_whole_family(client: httpx.AsyncClient) -> None:
    account = await new_account(client)
    stolen = account.refresh_token
    legit = (await refresh(client, stolen)).json()["refresh_token"]
    reuse = await refresh(client, stolen)
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    # The legitimate holder's newer token is revoked too: the family is burnt.
    assert (await refresh(client, legit)).json()["error"] == "invalid_grant"
    # Another sign-in (another family) is untouched.
    other = (await sign_in(client, account.email)).json()["refresh_token"]
    assert (await refresh(client, other)).status_code == 200


async def test_concurrent_use_of_one_refresh_token_rotates_it_once(
    client: httpx.AsyncClient,
) -> None:
    account = await new_account(client)
    answers = await asyncio.gather(*(refresh(client, account.refresh_token) for _ in range(4)))
    assert sum(a.status_code == 200 for a in answers) <= 1
    assert all(a.status_code in (200, 400) for a in answers)


async def test_unknown_refresh_token_is_invalid_grant(client: httpx.AsyncClient) -> None:
    answer = await refresh(client, "made-up")
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


async def test_logout_revokes_the_family(client: httpx.AsyncClient) -> None:
    account = await new_account(client)
    rotated = (await refresh(client, account.refresh_token)).json()["refresh_token"]
    out = await client.post("/v1/auth/logout", json={"refresh_token": account.refresh_token})
    assert out.status_code == 204
    assert (await refresh(client, rotated)).json()["error"] == "invalid_grant"
    # Logging out with an unknown token reveals nothing.
    assert (await client.post("/v1/auth/logout", json={"refresh_token": "x"})).status_code == 204


async def test_refresh_token_expires(app_factory: AppFactory) -> None:
    async with app_factory(refresh_token_ttl_s=3600) as (app, client):
        account = await new_account(client)
        async with app.state.sessionmaker() as session, session.begin():
            from sqlalchemy import text

            await session.execute(text("UPDATE refresh_tokens SET expires_at = created_at"))
        assert (await refresh(client, account.refresh_token)).json()["error"] == "invalid_grant"


async def test_update_me(client: httpx.AsyncClient) -> None:
    account = await new_account(client)
    answer = await client.patch(
        "/v1/me",
        headers=account.headers,
        json={"display_name": "Ann B.", "locale": "en-GB", "timezone": "Europe/London"},
    )
    assert answer.status_code == 200
    assert (
        answer.json() | {"display_name": "Ann B.", "locale": "en-GB", "timezone": "Europe/London"}
        == answer.json()
    )
    again = (await client.get("/v1/me", headers=account.headers)).json()
    assert again["timezone"] == "Europe/London"


async def test_update_me_validates_each_field(client: httpx.AsyncClient) -> None:
    account = await new_account(client)
    answer = await client.patch(
        "/v1/me",
        headers=account.headers,
        json={"timezone": "Mars/Olympus", "locale": "english!", "role": "admin"},
    )
    assert answer.status_code == 422
    fields = {e["field"] for e in answer.json()["errors"]}
    assert fields == {"timezone", "locale", "role"}
    assert (await client.get("/v1/me", headers=account.headers)).json()["role"] == "resident"


async def test_me_requires_a_token(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/me")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.headers["content-type"] == "application/problem+json"


async def test_admin_sets_roles_and_jurisdiction(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await new_admin(app, client)
    officer = await new_account(client)
    area = {"type": "Point", "coordinates": [-0.12, 51.5], "radius_m": 5000}
    answer = await client.patch(
        f"/v1/admin/users/{officer.id}",
        headers=admin.headers,
        json={"role": "agency", "jurisdiction": area},
    )
    assert answer.status_code == 200
    assert answer.json()["role"] == "agency"
    assert answer.json()["jurisdiction"] == area
    # The role applies at once, without waiting for the officer's token to expire.
    me = await client.get("/v1/me", headers=officer.headers)
    assert me.json()["role"] == "agency"
    back = await client.patch(
        f"/v1/admin/users/{officer.id}", headers=admin.headers, json={"role": "resident"}
    )
    assert back.json()["jurisdiction"] is None


async def test_only_admins_set_roles(app: FastAPI, client: httpx.AsyncClient) -> None:
    resident = await new_account(client)
    answer = await client.patch(
        f"/v1/admin/users/{resident.id}", headers=resident.headers, json={"role": "admin"}
    )
    assert answer.status_code == 403
    assert (await client.get("/v1/me", headers=resident.headers)).json()["role"] == "resident"
    admin = await new_admin(app, client)
    missing = await client.patch(
        "/v1/admin/users/00000000-0000-4000-8000-000000000000",
        headers=admin.headers,
        json={"role": "agency"},
    )
    assert missing.status_code == 404
    bad = await client.patch(
        f"/v1/admin/users/{resident.id}", headers=admin.headers, json={"role": "superuser"}
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "role"


async def test_the_last_admin_cannot_be_demoted(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await new_admin(app, client)
    answer = await client.patch(
        f"/v1/admin/users/{admin.id}", headers=admin.headers, json={"role": "resident"}
    )
    assert answer.status_code == 409
    second = await new_admin(app, client)
    answer = await client.patch(
        f"/v1/admin/users/{admin.id}", headers=second.headers, json={"role": "resident"}
    )
    assert answer.status_code == 200


async def test_a_null_role_is_a_422_naming_role(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await new_admin(app, client)
    resident = await new_account(client)
    for target in (resident, admin):
        answer = await client.patch(
            f"/v1/admin/users/{target.id}", headers=admin.headers, json={"role": None}
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == "role"
    me = await client.get("/v1/me", headers=resident.headers)
    assert me.json()["role"] == "resident"


async def test_the_last_two_admins_cannot_both_demote_themselves(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admins = [await new_admin(app, client) for _ in range(2)]
    answers = await asyncio.gather(
        *(
            client.patch(f"/v1/admin/users/{a.id}", headers=a.headers, json={"role": "resident"})
            for a in admins
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 409)
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("last-admin")
