"""What an API client with `alerts:write` issues: alerts as an agency inside its
jurisdiction, under its own name, reaching residents as an agency alert does; and it
updates and cancels its own alerts only."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from app.alerts.models import Alert
from app.push.dispatcher import Dispatcher
from tests.alerts.factories import LONDON, SURREY, alert_body, circle, issue, new_agency, watch
from tests.auth.factories import client_headers, new_account, new_admin, new_api_client
from tests.conftest import AppFactory
from tests.groups.factories import new_group
from tests.push.factories import RecordingSender, device, drain


async def post_alert(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: object
) -> httpx.Response:
    return await client.post("/v1/alerts", headers=headers, json=alert_body(**fields))


async def test_a_client_issues_as_an_agency_under_its_name_and_residents_get_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    made = await new_api_client(
        client,
        officer,
        ("alerts:write",),
        name="Borough alerts",
        jurisdiction=circle(LONDON, 5_000),
    )
    resident, far = await new_account(client), await new_account(client)
    await watch(client, resident, LONDON)
    await watch(client, far, SURREY)
    await device(client, resident, "token-resident-" + "r" * 20)
    await device(client, far, "token-far-" + "f" * 20)

    answer = await post_alert(client, await client_headers(client, made), severity="severe")
    assert answer.status_code == 201, answer.text
    alert = answer.json()
    assert alert["issuer"] == {"id": None, "display_name": "Borough alerts", "kind": "agency"}
    async with app.state.sessionmaker() as session:
        row = await session.get(Alert, uuid.UUID(alert["id"]))
        assert row is not None
        assert row.issued_by_client_id == uuid.UUID(made.id)
        assert row.issuer_id is None

    sender = RecordingSender()
    await drain(Dispatcher(app.state.sessionmaker, sender))
    assert [m.token for m in sender.sent] == ["token-resident-" + "r" * 20]
    mine = await client.get("/v1/alerts", headers=resident.headers)
    assert [a["id"] for a in mine.json()["items"]] == [alert["id"]]
    assert (await client.get("/v1/alerts", headers=far.headers)).json()["items"] == []


async def test_a_client_issues_only_inside_its_jurisdiction_and_never_to_a_group(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    owner = await new_account(client)
    group = await new_group(client, owner)
    made = await new_api_client(
        client, officer, ("alerts:write",), jurisdiction=circle(LONDON, 5_000)
    )
    headers = await client_headers(client, made)

    outside = await post_alert(client, headers, area=circle(SURREY, 1_000))
    assert outside.status_code == 403, outside.text
    assert outside.headers["content-type"] == "application/problem+json"
    assert "jurisdiction" in outside.json()["detail"]
    straddling = await post_alert(client, headers, area=circle(LONDON, 8_000))
    assert straddling.status_code == 403
    grouped = await post_alert(client, headers, group_id=group["id"], area=None)
    assert grouped.status_code == 403
    no_area = await post_alert(client, headers, area=None)
    assert no_area.status_code == 422


async def test_a_client_without_jurisdiction_is_an_admins_and_issues_anywhere(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    national = await new_api_client(client, admin, ("alerts:write",))
    assert national.body["jurisdiction"] is None
    headers = await client_headers(client, national)
    for spot in (LONDON, SURREY):
        answer = await post_alert(client, headers, area=circle(spot, 25))
        assert answer.status_code == 201, answer.text


async def test_a_client_updates_and_cancels_its_own_alerts_only(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    made = await new_api_client(
        client, officer, ("alerts:write", "alerts:read"), jurisdiction=circle(LONDON, 5_000)
    )
    other = await new_api_client(
        client, officer, ("alerts:write",), jurisdiction=circle(LONDON, 5_000)
    )
    headers = await client_headers(client, made)
    first = (await post_alert(client, headers)).json()
    officers = (await issue(client, officer)).json()

    updated = await client.post(
        f"/v1/alerts/{first['id']}/update", headers=headers, json={"title": "Now two streets"}
    )
    assert updated.status_code == 201, updated.text
    version = updated.json()
    assert (version["version"], version["references"]) == (2, first["id"])
    assert version["issuer"]["display_name"] == "Borough dashboard"
    moved = await client.post(
        f"/v1/alerts/{version['id']}/update",
        headers=headers,
        json={"area": circle(SURREY, 1_000)},
    )
    assert moved.status_code == 403
    issued = await client.get("/v1/alerts", headers=headers, params={"scope": "issued"})
    assert [a["id"] for a in issued.json()["items"]] == [version["id"]]

    others = await client_headers(client, other)
    for target in (version["id"], officers["id"]):
        theirs = await client.post(
            f"/v1/alerts/{target}/cancel", headers=others, json={"reason": "mine now"}
        )
        assert theirs.status_code == 404, theirs.text
    mine = await client.post(f"/v1/alerts/{officers['id']}/update", headers=headers, json={})
    assert mine.status_code == 404

    cancelled = await client.post(
        f"/v1/alerts/{version['id']}/cancel", headers=headers, json={"reason": "All clear"}
    )
    assert cancelled.status_code == 201, cancelled.text
    assert cancelled.json()["msg_type"] == "cancel"
    # The officer, no issuer of the client's alert, does not manage it either.
    again = await client.post(f"/v1/alerts/{first['id']}/cancel", headers=officer.headers)
    assert again.status_code == 403


async def test_alerts_write_is_needed_and_user_tokens_are_unaffected(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    reader = await new_api_client(client, admin, ("alerts:read", "incidents:write"))
    headers = await client_headers(client, reader)
    refused = await post_alert(client, headers)
    assert refused.status_code == 403
    assert refused.json()["scope"] == "alerts:write"
    assert 'scope="alerts:write"' in refused.headers["www-authenticate"]
    alert = (await issue(client, admin)).json()
    for path in (f"/v1/alerts/{alert['id']}/update", f"/v1/alerts/{alert['id']}/cancel"):
        answer = await client.post(path, headers=headers, json={"title": "x"})
        assert answer.status_code == 403, path
        assert answer.json()["scope"] == "alerts:write"

    resident = await new_account(client)
    assert (await post_alert(client, resident.headers)).status_code == 403  # residents' rule
    assert (await post_alert(client, admin.headers)).status_code == 201
    assert (await post_alert(client, {})).status_code == 401


async def test_a_revoked_client_issues_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await new_admin(app, client)
    made = await new_api_client(client, admin, ("alerts:write",))
    headers = await client_headers(client, made)
    alert = (await post_alert(client, headers)).json()
    assert (
        await client.delete(f"/v1/admin/clients/{made.id}", headers=admin.headers)
    ).status_code == 204
    assert (await post_alert(client, headers)).status_code == 401
    cancel = await client.post(f"/v1/alerts/{alert['id']}/cancel", headers=headers)
    assert cancel.status_code == 401


async def test_a_clients_alerts_are_limited_per_client(app_factory: AppFactory) -> None:
    async with app_factory(alerts_per_agency_per_hour=2) as (app, client):
        admin = await new_admin(app, client)
        made = await new_api_client(client, admin, ("alerts:write",))
        headers = await client_headers(client, made)
        codes = [(await post_alert(client, headers)).status_code for _ in range(3)]
        assert codes == [201, 201, 429]
        # Another client, and the admin who made it, each have their own count.
        second = await new_api_client(client, admin, ("alerts:write",))
        assert (await post_alert(client, await client_headers(client, second))).status_code == 201
        assert (await post_alert(client, admin.headers)).status_code == 201
