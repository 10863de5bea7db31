"""Who sees a report, and how exactly: every kind of viewer, and the listings."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app import pagination
from app.geo.privacy import snap
from tests.alerts.factories import new_agency
from tests.auth.factories import Account, new_account, new_admin
from tests.groups.factories import join, new_group, set_member, verify
from tests.incidents.factories import SPOT, report


async def world(app: FastAPI, client: httpx.AsyncClient) -> tuple[dict[str, Account], str]:
    people = {
        name: await new_account(client, display_name=name)
        for name in ("reporter", "owner", "coordinator", "member", "outsider")
    }
    group = await new_group(client, people["owner"], join_policy="open")
    await verify(app, client, group["id"])
    for name in ("coordinator", "member", "reporter"):
        await join(client, people[name], group["id"])
    await set_member(
        client, people["owner"], group["id"], people["coordinator"], role="coordinator"
    )
    people["agency"] = await new_agency(app, client)
    far_agency = await new_agency(
        app,
        client,
        jurisdiction={"type": "Point", "coordinates": [-1.55, 53.8], "radius_m": 10_000},
    )
    people["agency_elsewhere"] = far_agency
    people["admin"] = await new_admin(app, client)
    return people, str(group["id"])


async def view(client: httpx.AsyncClient, who: Account, incident_id: str) -> httpx.Response:
    return await client.get(f"/v1/incidents/{incident_id}", headers=who.headers)


async def test_each_viewer_sees_what_they_should(app: FastAPI, client: httpx.AsyncClient) -> None:
    p, _group_id = await world(app, client)
    anonymous = (await report(client, p["reporter"], anonymous=True)).json()
    named = (await report(client, p["reporter"], anonymous=False)).json()
    snapped = list(snap(*SPOT))
    # who: (status, exact location?, reporter shown for the anonymous report?)
    # A verified group's coordinators moderate, but an anonymous reporter is known only
    # to the officers whose jurisdiction holds the report, and to admins.
    expected: dict[str, tuple[int, bool, bool]] = {
        "reporter": (200, True, True),
        "owner": (200, True, False),
        "coordinator": (200, True, False),
        "agency": (200, True, True),
        "admin": (200, True, True),
        "member": (200, False, False),
        "outsider": (404, False, False),
        "agency_elsewhere": (404, False, False),
    }
    for who, (status, exact, shows_reporter) in expected.items():
        answer = await view(client, p[who], anonymous["id"])
        assert answer.status_code == status, who
        if status != 200:
            continue
        body: dict[str, Any] = answer.json()
        want = list(SPOT) if exact else snapped
        assert body["location"]["coordinates"] == want, who
        assert body["location_exact"] is exact, who
        assert (body["reporter"] is not None) is shows_reporter, who
        if not exact:
            assert body["accuracy_m"] is None
        named_body = (await view(client, p[who], named["id"])).json()
        # A named report shows the display name to members, never the account id.
        assert named_body["reporter"]["display_name"] == "reporter", who
        assert (named_body["reporter"]["id"] is not None) is exact, who


async def test_listing_filters_and_geojson(app: FastAPI, client: httpx.AsyncClient) -> None:
    p, group_id = await world(app, client)
    burglary = (await report(client, p["reporter"])).json()
    fraud = (await report(client, p["reporter"], category="fraud_scam")).json()
    member = p["member"]

    async def ids(who: Account, **params: str) -> list[str]:
        answer = await client.get("/v1/incidents", headers=who.headers, params=params)
        assert answer.status_code == 200, answer.text
        return [i["id"] for i in answer.json()["items"]]

    assert await ids(member) == [fraud["id"], burglary["id"]]
    assert await ids(member, category="burglary") == [burglary["id"]]
    assert await ids(member, status="verified") == []
    assert await ids(member, group_id=group_id) == [fraud["id"], burglary["id"]]
    assert await ids(p["outsider"]) == []
    assert await ids(p["admin"]) == [fraud["id"], burglary["id"]]
    lon, lat = snap(*SPOT)
    box = f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}"
    assert len(await ids(member, bbox=box)) == 2
    exact_box = f"{SPOT[0] - 1e-5},{SPOT[1] - 1e-5},{SPOT[0] + 1e-5},{SPOT[1] + 1e-5}"
    assert await ids(member, bbox=exact_box) == []  # the box sees only the snapped point
    bad = await client.get("/v1/incidents", headers=member.headers, params={"bbox": "1,2,3"})
    assert bad.json()["errors"][0]["field"] == "bbox"
    geo = await client.get(
        "/v1/incidents", headers={**member.headers, "Accept": "application/geo+json"}
    )
    assert geo.headers["content-type"] == "application/geo+json"
    collection = geo.json()
    assert collection["type"] == "FeatureCollection"
    feature = collection["features"][0]
    assert feature["type"] == "Feature"
    assert feature["geometry"] == {"type": "Point", "coordinates": [lon, lat]}
    assert feature["properties"]["category"] == "fraud_scam"


async def test_updates_follow_the_same_privacy(app: FastAPI, client: httpx.AsyncClient) -> None:
    p, _group_id = await world(app, client)
    incident = (await report(client, p["reporter"], anonymous=True)).json()
    path = f"/v1/incidents/{incident['id']}/updates"
    mine = await client.post(
        path, headers=p["reporter"].headers, json={"text": "They came back at 3am."}
    )
    assert mine.status_code == 201
    seen = await client.post(
        path, headers=p["member"].headers, json={"text": "I saw a white van, plate starting LD5."}
    )
    assert seen.json()["author"]["display_name"] == "member"
    as_member = (await client.get(path, headers=p["member"].headers)).json()["items"]
    # The anonymous reporter's own update does not give them away.
    assert [(u["text"][:4], u["author"]) for u in as_member] == [
        ("I sa", {"id": None, "display_name": "member"}),
        ("They", None),
    ]
    as_coordinator = (await client.get(path, headers=p["coordinator"].headers)).json()["items"]
    assert as_coordinator[1]["author"] is None
    as_agency = (await client.get(path, headers=p["agency"].headers)).json()["items"]
    assert as_agency[1]["author"]["display_name"] == "reporter"
    assert (
        await client.post(path, headers=p["outsider"].headers, json={"text": "hi"})
    ).status_code == 404


@pytest.mark.parametrize("chunk", [30_000, 2])
async def test_listing_pages_are_the_same_when_ids_are_chunked(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    p, _ = await world(app, client)
    made = [(await report(client, p["reporter"])).json()["id"] for _ in range(7)]
    monkeypatch.setattr(pagination, "IN_LIST_LIMIT", chunk)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get("/v1/incidents", headers=p["member"].headers, params=params)
        ).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))
