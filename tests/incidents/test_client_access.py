"""What API clients read of reports (`incidents:read`: inside their jurisdiction, as an
officer sees them for an officer's client, else snapped and with no reporter) and file
(`incidents:write`: no reporter, inside the jurisdiction, the same intake)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from app.geo.privacy import snap
from app.incidents.models import Incident
from tests.alerts.factories import LONDON, SURREY, circle, new_agency
from tests.auth.factories import (
    Account,
    client_headers,
    new_account,
    new_admin,
    new_api_client,
)
from tests.conftest import AppFactory
from tests.groups.factories import new_group
from tests.incidents.factories import SPOT, report, report_body

GEOJSON = "application/geo+json"
FAR = (SURREY[0] + 0.001, SURREY[1] + 0.001)


async def filed(client: httpx.AsyncClient, who: Account, **fields: Any) -> dict[str, Any]:
    answer = await report(client, who, **fields)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def listed(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, dict[str, Any]]:
    answer = await client.get("/v1/incidents", headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    return {i["id"]: i for i in answer.json()["items"]}


def snapped(lon_lat: tuple[float, float]) -> list[float]:
    return list(snap(*lon_lat, 250.0))


async def test_an_officers_client_sees_its_reports_as_the_officer_does(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)  # 20 km around LONDON
    resident = await new_account(client, display_name="Ann")
    near = await filed(client, resident, anonymous=True)
    far = await filed(client, resident, location={"type": "Point", "coordinates": list(FAR)})
    made = await new_api_client(
        client, officer, ("incidents:read",), jurisdiction=circle(LONDON, 5_000)
    )
    headers = await client_headers(client, made)

    seen = await listed(client, headers)
    assert set(seen) == {near["id"]}
    item = seen[near["id"]]
    assert item["location"]["coordinates"] == list(SPOT)
    assert item["location_exact"] is True
    assert item["reporter"] == {"id": str(resident.id), "display_name": "Ann"}  # as officers
    one = await client.get(f"/v1/incidents/{near['id']}", headers=headers)
    assert one.status_code == 200
    assert one.json() == item
    assert (await client.get(f"/v1/incidents/{far['id']}", headers=headers)).status_code == 404

    # Once it has no officer (theirs erased: the client goes on as the agency's), it sees
    # what a member would, at most. (Demoting them revokes it: tests/auth/test_clients.py.)
    admin = await new_admin(app, client)
    erased = await client.request(
        "DELETE",
        f"/v1/admin/users/{officer.id}",
        headers=admin.headers,
        json={"password": admin.password},
    )
    assert erased.status_code == 204, erased.text
    after = (await listed(client, headers))[near["id"]]
    assert after["location"]["coordinates"] == snapped(SPOT)
    assert (after["reporter"], after["location_exact"], after["accuracy_m"]) == (None, False, None)


async def test_another_client_sees_reports_snapped_matched_snapped_and_never_a_reporter(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    resident = await new_account(client, display_name="Ann")
    named = await filed(client, resident, anonymous=False)
    far = await filed(client, resident, location={"type": "Point", "coordinates": list(FAR)})
    borough = await new_api_client(
        client, admin, ("incidents:read",), jurisdiction=circle(LONDON, 5_000)
    )
    national = await new_api_client(client, admin, ("incidents:read",))

    for made, expected in ((borough, {named["id"]}), (national, {named["id"], far["id"]})):
        headers = await client_headers(client, made)
        seen = await listed(client, headers)
        assert set(seen) == expected
        for item in seen.values():
            assert item["reporter"] is None  # not even a named reporter's name
            assert item["location_exact"] is False
            assert item["accuracy_m"] is None
        assert seen[named["id"]]["location"]["coordinates"] == snapped(SPOT)
        one = await client.get(f"/v1/incidents/{named['id']}", headers=headers)
        assert one.json() == seen[named["id"]]
        geo = await client.get("/v1/incidents", headers={**headers, "Accept": GEOJSON})
        assert geo.headers["content-type"] == GEOJSON
        features = {f["id"]: f for f in geo.json()["features"]}
        assert features[named["id"]]["geometry"]["coordinates"] == snapped(SPOT)

    # A jurisdiction is matched on the snapped point: a circle that holds the exact
    # point but not the snapped one lists nothing.
    exact_only = circle(SPOT, 25)
    sx, sy = snapped(SPOT)
    assert (sx, sy) != SPOT
    tiny = await new_api_client(client, admin, ("incidents:read",), jurisdiction=exact_only)
    tiny_headers = await client_headers(client, tiny)
    assert await listed(client, tiny_headers) == {}
    answer = await client.get(f"/v1/incidents/{named['id']}", headers=tiny_headers)
    assert answer.status_code == 404


async def test_a_clients_group_filter_takes_public_groups_and_its_own(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    owner = await new_account(client)
    public = await new_group(client, owner)
    private = await new_group(client, owner, visibility="private")
    resident = await new_account(client)
    made_report = await filed(client, resident)
    plain = await new_api_client(client, admin, ("incidents:read",))
    bot = await new_api_client(client, admin, ("incidents:read",), group_id=private["id"])

    headers = await client_headers(client, plain)
    assert set(await listed(client, headers, group_id=public["id"])) == {made_report["id"]}
    hidden = await client.get("/v1/incidents", headers=headers, params={"group_id": private["id"]})
    assert hidden.status_code == 404
    unknown = await client.get(
        "/v1/incidents", headers=headers, params={"group_id": str(uuid.uuid4())}
    )
    assert unknown.status_code == 404
    bots = await client_headers(client, bot)
    assert set(await listed(client, bots, group_id=private["id"])) == {made_report["id"]}


async def test_incidents_read_is_needed_and_user_tokens_are_unaffected(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    resident = await new_account(client)
    mine = await filed(client, resident)
    writer = await new_api_client(client, admin, ("incidents:write", "alerts:read"))
    headers = await client_headers(client, writer)
    for path in ("/v1/incidents", f"/v1/incidents/{mine['id']}"):
        answer = await client.get(path, headers=headers)
        assert answer.status_code == 403, path
        assert answer.json()["scope"] == "incidents:read"
    # A resident still sees their own report exactly, and an admin everything.
    own = (await listed(client, resident.headers))[mine["id"]]
    assert own["location_exact"] is True
    assert mine["id"] in await listed(client, admin.headers)
    stranger = await new_account(client)
    assert await listed(client, stranger.headers) == {}
    assert (await client.get("/v1/incidents")).status_code == 401


async def test_a_client_files_reports_with_no_reporter_inside_its_jurisdiction(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    made = await new_api_client(
        client,
        officer,
        ("incidents:write", "incidents:read"),
        jurisdiction=circle(LONDON, 5_000),
    )
    headers = await client_headers(client, made)
    body = report_body(anonymous=False)
    answer = await client.post(
        "/v1/incidents", headers={**headers, "Idempotency-Key": "form-1"}, json=body
    )
    assert answer.status_code == 201, answer.text
    filed_one = answer.json()
    assert filed_one["reporter"] is None
    assert filed_one["status"] == "submitted"
    async with app.state.sessionmaker() as session:
        row = await session.get(Incident, uuid.UUID(filed_one["id"]))
        assert row is not None
        assert row.reporter_id is None

    again = await client.post(
        "/v1/incidents", headers={**headers, "Idempotency-Key": "form-1"}, json=body
    )
    assert (again.status_code, again.json()) == (201, filed_one)
    reused = await client.post(
        "/v1/incidents",
        headers={**headers, "Idempotency-Key": "form-1"},
        json={**body, "description": "Something else"},
    )
    assert reused.status_code == 422
    # The same key is the client's own: a resident's is another.
    resident = await new_account(client)
    theirs = await report(client, resident, key="form-1")
    assert theirs.status_code == 201
    assert theirs.json()["id"] != filed_one["id"]

    outside = await client.post(
        "/v1/incidents",
        headers=headers,
        json=report_body(location={"type": "Point", "coordinates": list(FAR)}),
    )
    assert outside.status_code == 403
    assert "jurisdiction" in outside.json()["detail"]
    invalid = await client.post("/v1/incidents", headers=headers, json={**body, "reporter": "x"})
    assert invalid.status_code == 422
    # The officer sees it as any report in their jurisdiction, with no one behind it.
    seen = (await listed(client, officer.headers))[filed_one["id"]]
    assert (seen["reporter"], seen["location_exact"]) == (None, True)
    assert filed_one["id"] in await listed(client, headers)


async def test_incidents_write_is_needed_and_a_revoked_client_files_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    reader = await new_api_client(client, admin, ("incidents:read",))
    refused = await client.post(
        "/v1/incidents", headers=await client_headers(client, reader), json=report_body()
    )
    assert refused.status_code == 403
    assert refused.json()["scope"] == "incidents:write"

    writer = await new_api_client(client, admin, ("incidents:write",))
    headers = await client_headers(client, writer)
    assert (
        await client.post("/v1/incidents", headers=headers, json=report_body())
    ).status_code == 201
    revoked = await client.delete(f"/v1/admin/clients/{writer.id}", headers=admin.headers)
    assert revoked.status_code == 204
    after = await client.post("/v1/incidents", headers=headers, json=report_body())
    assert after.status_code == 401
    listing = await client.get("/v1/incidents", headers=headers)
    assert listing.status_code == 401


async def test_a_clients_reports_are_limited_per_client_not_per_address(
    app_factory: AppFactory,
) -> None:
    async with app_factory(incidents_per_client_per_hour=3, incidents_per_address_per_hour=2) as (
        app,
        client,
    ):
        admin = await new_admin(app, client)
        first = await new_api_client(client, admin, ("incidents:write",))
        second = await new_api_client(client, admin, ("incidents:write",))
        headers = await client_headers(client, first)
        codes = [
            (await client.post("/v1/incidents", headers=headers, json=report_body())).status_code
            for _ in range(4)
        ]
        assert codes == [201, 201, 201, 429]
        other = await client_headers(client, second)
        answer = await client.post("/v1/incidents", headers=other, json=report_body())
        assert answer.status_code == 201
