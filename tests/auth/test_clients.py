"""API clients: made, listed, rotated and revoked by admins and officers, and the
client-credentials grant at the token endpoint."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from app.auth import clients, service
from app.auth.client_schemas import ClientCreate
from app.auth.models import ApiClient, Role, User
from app.auth.schemas import AdminUserUpdate
from app.auth.scopes import Scope
from app.db import utcnow
from app.problems import Problem
from tests.alerts.factories import LONDON, SURREY, circle, new_agency
from tests.auth.factories import (
    ApiClientCredentials,
    basic,
    client_token,
    new_account,
    new_admin,
    new_api_client,
)
from tests.conftest import AppFactory
from tests.privacy.test_erasure import every_row, identifies

ALL_SCOPES = "alerts:read alerts:write incidents:read incidents:write webhooks"


async def stored(app: FastAPI, client_id: str) -> ApiClient:
    async with app.state.sessionmaker() as session:
        row: ApiClient | None = await session.get(ApiClient, uuid.UUID(client_id))
        assert row is not None
        return row


async def test_an_admin_makes_a_client_whose_secret_is_shown_once_and_kept_hashed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    made = await new_api_client(client, admin, ("webhooks", "alerts:read", "alerts:read"))
    assert made.secret.startswith("nwcs_")
    assert len(made.secret) > 40
    assert made.body["scopes"] == ["alerts:read", "webhooks"]  # once each, in one order
    assert made.body["created_by"] == str(admin.id)
    assert made.body["jurisdiction"] is None

    listed = await client.get("/v1/admin/clients", headers=admin.headers)
    assert listed.status_code == 200
    (item,) = listed.json()["items"]
    assert item["client_id"] == made.id
    assert "client_secret" not in item

    row = await stored(app, made.id)
    assert row.secret_hash == hashlib.sha256(made.secret.encode()).hexdigest()
    assert made.secret not in repr(row.model_dump())


async def test_a_resident_gets_403_from_every_client_endpoint(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    made = await new_api_client(client, admin)
    resident = await new_account(client)
    body = {"name": "Mine", "scopes": ["alerts:read"]}
    answers = [
        await client.post("/v1/admin/clients", headers=resident.headers, json=body),
        await client.get("/v1/admin/clients", headers=resident.headers),
        await client.post(f"/v1/admin/clients/{made.id}/rotate", headers=resident.headers),
        await client.delete(f"/v1/admin/clients/{made.id}", headers=resident.headers),
    ]
    assert [a.status_code for a in answers] == [403] * 4
    assert all(a.headers["content-type"] == "application/problem+json" for a in answers)
    assert (await client_token(client, made)).status_code == 200  # not revoked by them


async def test_an_officer_makes_clients_inside_their_jurisdiction_and_manages_only_theirs(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)  # 20 km around central London
    colleague = await new_agency(app, client)
    admin = await new_admin(app, client)

    default = await new_api_client(client, officer)
    assert default.body["jurisdiction"]["radius_m"] == 20_000  # all of the officer's
    inside = await new_api_client(client, officer, jurisdiction=circle(LONDON, 5_000))
    assert inside.body["jurisdiction"]["radius_m"] == 5_000

    body = {"name": "Too far", "scopes": ["alerts:read"]}
    outside = await client.post(
        "/v1/admin/clients",
        headers=officer.headers,
        json={**body, "jurisdiction": circle(SURREY, 5_000)},
    )
    assert outside.status_code == 403, outside.text
    grouped = await client.post(
        "/v1/admin/clients", headers=officer.headers, json={**body, "group_id": str(uuid.uuid4())}
    )
    assert grouped.status_code == 403

    theirs = await new_api_client(client, colleague)
    mine = await client.get("/v1/admin/clients", headers=officer.headers)
    assert {c["client_id"] for c in mine.json()["items"]} == {default.id, inside.id}
    every = await client.get("/v1/admin/clients", headers=admin.headers)
    assert {c["client_id"] for c in every.json()["items"]} == {default.id, inside.id, theirs.id}

    rotate = await client.post(f"/v1/admin/clients/{theirs.id}/rotate", headers=officer.headers)
    revoke = await client.delete(f"/v1/admin/clients/{theirs.id}", headers=officer.headers)
    assert (rotate.status_code, revoke.status_code) == (404, 404)
    assert (await client_token(client, theirs)).status_code == 200
    own = await client.delete(f"/v1/admin/clients/{inside.id}", headers=officer.headers)
    assert own.status_code == 204


async def test_an_admins_client_may_have_a_group_that_exists(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    answer = await client.post(
        "/v1/admin/clients",
        headers=admin.headers,
        json={"name": "Group bot", "scopes": ["alerts:read"], "group_id": str(uuid.uuid4())},
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "group_id"


async def test_bad_client_bodies_are_422_problems(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await new_admin(app, client)
    for body in (
        {"name": "No scopes", "scopes": []},
        {"name": "Made up", "scopes": ["alerts:delete"]},
        {"name": "Unknown field", "scopes": ["alerts:read"], "client_secret": "mine"},
        {"name": "\u202eevil", "scopes": ["alerts:read"]},
    ):
        answer = await client.post("/v1/admin/clients", headers=admin.headers, json=body)
        assert answer.status_code == 422, body
        assert answer.headers["content-type"] == "application/problem+json"


async def test_a_client_authenticates_with_basic_or_with_the_form(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    made = await new_api_client(client, admin, tuple(ALL_SCOPES.split()))
    by_basic = await client_token(client, made)
    by_form = await client.post(
        "/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": made.id,
            "client_secret": made.secret,
        },
    )
    for answer in (by_basic, by_form):
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["token_type"] == "bearer"
        assert body["scope"] == ALL_SCOPES  # none asked for: all of the client's
        assert body["expires_in"] == app.state.settings.access_token_ttl_s
        assert "refresh_token" not in body
        assert answer.headers["cache-control"] == "no-store"


async def test_basic_and_form_credentials_at_once_are_an_invalid_request(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    made = await new_api_client(client, admin)
    answer = await client.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": made.id},
        headers=basic(made.id, made.secret),
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


async def test_a_wrong_or_missing_secret_is_invalid_client(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    made = await new_api_client(client, admin)
    wrong = await client_token(client, made, secret=made.secret[:-1] + "x")
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")

    strangers = [
        ApiClientCredentials(str(uuid.uuid4()), made.secret, {}),  # no such client
        ApiClientCredentials("not-a-uuid", made.secret, {}),
    ]
    for stranger in strangers:
        assert (await client_token(client, stranger)).json()["error"] == "invalid_client"

    by_form = await client.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": made.id, "client_secret": "no"},
    )
    assert by_form.status_code == 401
    assert "www-authenticate" not in by_form.headers
    nothing = await client.post("/v1/auth/token", data={"grant_type": "client_credentials"})
    assert (nothing.status_code, nothing.json()["error"]) == (401, "invalid_client")
    for header in ("Basic !!!", "Basic " + "bm8tY29sb24="):  # not base64; no colon
        malformed = await client.post(
            "/v1/auth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": header},
        )
        assert (malformed.status_code, malformed.json()["error"]) == (401, "invalid_client")
        assert malformed.headers["www-authenticate"].startswith("Basic")


async def test_a_token_carries_the_scopes_asked_for_and_never_more(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    made = await new_api_client(client, admin, ("alerts:read", "incidents:read"))
    narrowed = await client_token(client, made, scope="incidents:read")
    assert narrowed.json()["scope"] == "incidents:read"
    claims = app.state.auth.tokens.verify_client_access(narrowed.json()["access_token"])
    assert claims.scopes == {"incidents:read"}
    assert str(claims.client_id) == made.id

    for scope in ("alerts:read webhooks", "alerts:write", "admin", "alerts:read\u00a0x"):
        refused = await client_token(client, made, scope=scope)
        assert refused.status_code == 400, scope
        assert refused.json()["error"] == "invalid_scope"
    assert (await client_token(client, made, scope="  ")).json()["scope"] == (
        "alerts:read incidents:read"
    )


async def test_a_rotated_secret_works_for_its_grace_period_only(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    made = await new_api_client(client, admin)
    path = f"/v1/admin/clients/{made.id}/rotate"
    rotated = await client.post(path, headers=admin.headers, json={"grace_period_s": 3600})
    assert rotated.status_code == 200, rotated.text
    second = ApiClientCredentials(made.id, rotated.json()["client_secret"], rotated.json())
    assert second.secret != made.secret
    assert (await client_token(client, made)).status_code == 200  # within its grace
    assert (await client_token(client, second)).status_code == 200

    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(ApiClient)
            .where(col(ApiClient.id) == uuid.UUID(made.id))
            .values(previous_secret_expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await client_token(client, made)).status_code == 401  # the grace is over
    assert (await client_token(client, second)).status_code == 200

    third = await client.post(path, headers=admin.headers)  # no body: no grace
    assert third.status_code == 200
    assert (await client_token(client, second)).status_code == 401
    too_long = await client.post(path, headers=admin.headers, json={"grace_period_s": 8 * 86_400})
    assert too_long.status_code == 422


async def test_a_revoked_client_gets_no_token_and_its_tokens_stop_at_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    made = await new_api_client(client, admin)
    token = (await client_token(client, made)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/v1/alerts", headers=headers)).status_code == 200

    revoked = await client.delete(f"/v1/admin/clients/{made.id}", headers=admin.headers)
    assert revoked.status_code == 204
    after = await client.get("/v1/alerts", headers=headers)
    assert after.status_code == 401
    assert after.headers["content-type"] == "application/problem+json"
    assert (await client_token(client, made)).json()["error"] == "invalid_client"
    again = await client.post(f"/v1/admin/clients/{made.id}/rotate", headers=admin.headers)
    assert again.status_code == 409
    listed = (await client.get("/v1/admin/clients", headers=admin.headers)).json()
    assert listed["items"][0]["revoked_at"] is not None


async def test_failed_client_authentications_are_limited_as_sign_ins_are(
    app_factory: AppFactory,
) -> None:
    async with app_factory(login_failures_per_pair=3) as (app, client):
        admin = await new_admin(app, client)
        made = await new_api_client(client, admin)
        for _ in range(3):
            assert (await client_token(client, made, secret="guess")).status_code == 401
        # Now even the right secret is refused: the limit is no oracle for guesses.
        limited = await client_token(client, made)
        assert limited.status_code == 429
        assert limited.json()["error"] == "temporarily_unavailable"
        assert int(limited.headers["retry-after"]) > 0
        other = await new_api_client(client, admin)
        assert (await client_token(client, other)).status_code == 200


async def test_tokens_a_client_may_get_an_hour_are_limited(app_factory: AppFactory) -> None:
    async with app_factory(client_tokens_per_hour=2) as (app, client):
        admin = await new_admin(app, client)
        made = await new_api_client(client, admin)
        assert [(await client_token(client, made)).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
        assert int((await client_token(client, made)).headers["retry-after"]) > 0


async def test_erasing_a_clients_creator_leaves_the_client_without_them(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    made = await new_api_client(client, officer)
    admin = await new_admin(app, client)
    erased = await client.request(
        "DELETE",
        f"/v1/admin/users/{officer.id}",
        headers=admin.headers,
        json={"password": admin.password},
    )
    assert erased.status_code == 204, erased.text
    texts = {officer.email, str(officer.id), officer.id.hex}
    leaks = [(t, v) for t, v in await every_row(app) if identifies(v, texts, set())]
    assert leaks == [], leaks
    (item,) = (await client.get("/v1/admin/clients", headers=admin.headers)).json()["items"]
    assert item["client_id"] == made.id
    assert item["created_by"] is None
    assert (await client_token(client, made)).status_code == 200  # the integration goes on


async def test_the_openapi_document_offers_the_client_credentials_flow(app: FastAPI) -> None:
    document = app.openapi()
    scheme = document["components"]["securitySchemes"]["ApiClient"]
    flow = scheme["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/v1/auth/token"
    assert sorted(flow["scopes"]) == sorted(ALL_SCOPES.split())
    assert all(flow["scopes"].values())  # each one described
    for path in ("/v1/alerts/{alert_id}", "/v1/alerts"):
        security = document["paths"][path]["get"]["security"]
        assert {"ApiClient": ["alerts:read"]} in security
        assert {"OAuth2PasswordBearer": []} in security


async def test_an_export_lists_the_clients_the_person_made_without_secrets(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    made = await new_api_client(client, officer)
    export = await client.get("/v1/me/export", headers=officer.headers)
    assert export.status_code == 200, export.text
    (item,) = export.json()["api_clients"]
    assert item["id"] == made.id
    assert item["scopes"] == ["alerts:read"]
    assert made.secret not in export.text


async def test_an_officers_clients_end_with_their_power_to_make_them(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A demoted officer (or one whose jurisdiction an admin narrows) may still hold a
    client's secret: the clients they could no longer make are revoked, tokens and all."""
    officer = await new_agency(app, client)  # 20 km around central London
    colleague = await new_agency(app, client)
    admin = await new_admin(app, client)
    whole = await new_api_client(client, officer, ("alerts:read", "alerts:write"))
    near = await new_api_client(client, officer, jurisdiction=circle(LONDON, 5_000))
    theirs = await new_api_client(client, colleague)
    token = (await client_token(client, whole)).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/v1/alerts", headers=bearer)).status_code == 200

    narrowed = await client.patch(
        f"/v1/admin/users/{officer.id}",
        headers=admin.headers,
        json={"role": "agency", "jurisdiction": circle(LONDON, 8_000)},
    )
    assert narrowed.status_code == 200, narrowed.text
    assert (await client.get("/v1/alerts", headers=bearer)).status_code == 401
    assert (await client_token(client, whole)).json()["error"] == "invalid_client"
    assert (await client_token(client, near)).status_code == 200  # still inside

    demoted = await client.patch(
        f"/v1/admin/users/{officer.id}", headers=admin.headers, json={"role": "resident"}
    )
    assert demoted.status_code == 200, demoted.text
    assert (await client_token(client, near)).json()["error"] == "invalid_client"
    assert (await client_token(client, theirs)).status_code == 200  # a colleague's go on
    listed = (await client.get("/v1/admin/clients", headers=admin.headers)).json()["items"]
    revoked = {c["client_id"] for c in listed if c["revoked_at"] is not None}
    assert revoked == {whole.id, near.id}


async def test_an_officer_made_admin_keeps_their_clients(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    admin = await new_admin(app, client)
    made = await new_api_client(client, officer)
    promoted = await client.patch(
        f"/v1/admin/users/{officer.id}", headers=admin.headers, json={"role": "admin"}
    )
    assert promoted.status_code == 200, promoted.text
    assert (await client_token(client, made)).status_code == 200
    # An admin's client without a jurisdiction ends when they are no longer an admin.
    everywhere = await new_api_client(client, officer)
    assert everywhere.body["jurisdiction"] is None
    back = await client.patch(
        f"/v1/admin/users/{officer.id}",
        headers=admin.headers,
        json={"role": "agency", "jurisdiction": circle(LONDON, 20_000)},
    )
    assert back.status_code == 200, back.text
    assert (await client_token(client, everywhere)).json()["error"] == "invalid_client"
    assert (await client_token(client, made)).status_code == 200  # inside: it goes on


async def test_an_officer_demoted_while_making_a_client_is_left_with_none(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The officer's request read their account (an officer's) before the admin's
    demotion committed: the client it goes on to make must not survive the demotion."""
    if app.state.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers go one at a time (BEGIN IMMEDIATE): no interleaving")
    officer = await new_agency(app, client)
    await new_admin(app, client)
    settings, sessions = app.state.settings, app.state.sessionmaker
    made = None
    async with sessions() as making, making.begin():
        user = await making.get(User, officer.id)  # as the request's caller is read
        assert user is not None
        assert user.role == Role.agency
        async with sessions() as demoting, demoting.begin():  # PATCH /v1/admin/users/{id}
            demoted = await service.admin_update_user(
                demoting, settings, officer.id, AdminUserUpdate(role=Role.resident)
            )
            await clients.revoke_clients_beyond(demoting, demoted)
        with contextlib.suppress(Problem):  # refused, having seen the demotion: fine too
            made = await clients.create_client(
                making, settings, user, ClientCreate(name="late", scopes=[Scope.alerts_read])
            )
    if made is not None:
        row = await stored(app, str(made.client_id))
        assert row.revoked_at is not None, "a resident's client, unrevoked"
