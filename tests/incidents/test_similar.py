"""GET /v1/incidents/similar: what a new report would join, and nothing finer than the
snapping grid however many points are asked about."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from app.geo.privacy import snap
from tests.auth.factories import Account, new_account
from tests.conftest import AppFactory
from tests.groups.factories import join, new_group, verify
from tests.incidents.factories import SPOT
from tests.incidents.test_clusters import WHEN, filed, moved


async def similar(
    client: httpx.AsyncClient,
    who: Account,
    point: list[float],
    category: str = "burglary",
    occurred_at: str = WHEN.isoformat(),
) -> httpx.Response:
    return await client.get(
        "/v1/incidents/similar",
        headers=who.headers,
        params={
            "category": category,
            "location": f"{point[0]},{point[1]}",
            "occurred_at": occurred_at,
        },
    )


async def ids_near(
    client: httpx.AsyncClient, who: Account, point: list[float], **kw: Any
) -> set[str]:
    answer = await similar(client, who, point, **kw)
    assert answer.status_code == 200, answer.text
    return {item["id"] for item in answer.json()["items"]}


async def neighbourhood(app: FastAPI, client: httpx.AsyncClient) -> dict[str, Account]:
    people = {name: await new_account(client) for name in ("owner", "reporter", "member")}
    group = await new_group(client, people["owner"], join_policy="open")
    await verify(app, client, group["id"])
    for name in ("reporter", "member"):
        assert (await join(client, people[name], group["id"])).status_code in (200, 201)
    people["outsider"] = await new_account(client)
    return people


async def test_similar_shows_open_visible_reports_as_members_see_them(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    p = await neighbourhood(app, client)
    named = await report_named(client, p["reporter"], moved(0))
    anonymous = await filed(client, p["reporter"], moved(60))
    other_kind = await filed(client, p["reporter"], moved(20), category="vehicle_crime")
    too_early = await filed(client, p["reporter"], moved(30), WHEN - timedelta(hours=7))
    shut = await filed(client, p["reporter"], moved(40))
    rejected = await client.post(
        f"/v1/incidents/{shut}/transitions",
        headers=p["owner"].headers,
        json={"status": "rejected", "note": "Seen to; a locksmith"},
    )
    assert rejected.status_code == 200, rejected.text
    for who in ("member", "owner", "reporter"):  # a moderator too sees them as members do
        answer = await similar(client, p[who], moved(10))
        assert answer.status_code == 200, answer.text
        items = {item["id"]: item for item in answer.json()["items"]}
        assert set(items) == {named, anonymous}
        assert {other_kind, too_early, shut}.isdisjoint(items)
        for item in items.values():
            assert item["reporter"] is None  # named or not
            assert item["cluster"] is None
            assert item["location_exact"] is False
            assert item["accuracy_m"] is None
        assert items[named]["location"]["coordinates"] == list(snap(*moved(0)))
        assert items[anonymous]["anonymous"] is True
    # Reports the caller may not see are not matched.
    assert await ids_near(client, p["outsider"], moved(10)) == set()
    assert (await client.get("/v1/incidents/similar")).status_code == 401
    bad = await similar(client, p["member"], [200.0, 51.5])
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    # Submitting anyway joins the cluster (which kept the report rejected after joining).
    joined = await filed(client, p["member"], moved(30))
    read = await client.get(f"/v1/incidents/{joined}", headers=p["owner"].headers)
    assert read.json()["cluster"]["size"] == 4


async def report_named(client: httpx.AsyncClient, who: Account, point: list[float]) -> str:
    from tests.incidents.factories import report

    answer = await report(
        client,
        who,
        anonymous=False,
        location={"type": "Point", "coordinates": point},
        occurred_at=WHEN.isoformat(),
    )
    assert answer.status_code == 201, answer.text
    incident_id: str = answer.json()["id"]
    return incident_id


async def test_probing_many_points_narrows_nothing_below_the_grid(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Two reports at opposite corners of one snapping cell, of two categories: an
    attacker asking about 289 points around them gets, for each, the same answer for
    both, and the same answer everywhere in a cell: the answers place neither report
    more finely than its cell."""
    p = await neighbourhood(app, client)
    centre = list(snap(*SPOT))
    corners = moved(-90, -90, (centre[0], centre[1])), moved(90, 90, (centre[0], centre[1]))
    assert snap(*corners[0]) == snap(*corners[1]) == tuple(centre)
    first = await filed(client, p["reporter"], corners[0])
    second = await filed(client, p["reporter"], corners[1], category="theft")
    hits: dict[str, set[tuple[int, int]]] = {first: set(), second: set()}
    by_cell: dict[tuple[float, float], tuple[bool, bool]] = {}
    for east in range(-560, 561, 70):
        for north in range(-560, 561, 70):
            probe = moved(east, north, (centre[0], centre[1]))
            found = (
                first in await ids_near(client, p["member"], probe),
                second in await ids_near(client, p["member"], probe, category="theft"),
            )
            for incident_id, hit in zip((first, second), found, strict=True):
                if hit:
                    hits[incident_id].add((east, north))
            # Within one cell, every point gets the same answer.
            assert by_cell.setdefault(snap(*probe), found) == found, (east, north)
    assert hits[first] == hits[second]  # their exact points cannot be told apart
    assert 0 < len(hits[first]) < 17 * 17  # the probes did reach it, and not everywhere
    assert len(by_cell) > 4


async def test_similar_is_rate_limited_per_user_and_per_address(app_factory: AppFactory) -> None:
    async with app_factory(similar_per_user_per_hour=2, similar_per_address_per_hour=3) as (
        _,
        client,
    ):
        one, two = await new_account(client), await new_account(client)
        for _ in range(2):
            assert (await similar(client, one, moved(0))).status_code == 200
        refused = await similar(client, one, moved(0))
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
        assert (await similar(client, two, moved(0))).status_code == 200
        # The address has asked three times now (the refusal counted nothing).
        assert (await similar(client, two, moved(0))).status_code == 429
