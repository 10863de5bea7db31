"""Corroborated reports: which reports cluster, concurrently too, and after erasure."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from app.geo.privacy import METRES_PER_DEGREE
from tests.auth.factories import Account, new_account, new_admin
from tests.conftest import AppFactory
from tests.incidents.factories import SPOT, report

WHEN = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=12)


def moved(east_m: float, north_m: float = 0.0, start: tuple[float, float] = SPOT) -> list[float]:
    """The point `east_m` east and `north_m` north of `start` (on the sphere)."""
    lon, lat = start
    lat2 = lat + north_m / METRES_PER_DEGREE
    return [lon + east_m / (METRES_PER_DEGREE * math.cos(math.radians(lat2))), lat2]


async def filed(
    client: httpx.AsyncClient,
    who: Account,
    point: list[float],
    when: datetime = WHEN,
    category: str = "burglary",
) -> str:
    answer = await report(
        client,
        who,
        location={"type": "Point", "coordinates": point},
        occurred_at=when.isoformat(),
        category=category,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["cluster"] is None  # the reporter is not told: see CLUSTER_SHOWN
    incident_id: str = answer.json()["id"]
    return incident_id


async def cluster_of(client: httpx.AsyncClient, admin: Account, incident_id: str) -> Any:
    answer = await client.get(f"/v1/incidents/{incident_id}", headers=admin.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["cluster"]


async def test_a_chain_is_one_cluster_and_merges_into_the_oldest(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin, resident = await new_admin(app, client), await new_account(client)
    # A and C are 280 m apart: alone each. Then D (near C), E (near A): two clusters.
    a = await filed(client, resident, moved(0))
    c = await filed(client, resident, moved(280))
    assert await cluster_of(client, admin, a) is None
    assert await cluster_of(client, admin, c) is None
    d = await filed(client, resident, moved(400))
    first = await cluster_of(client, admin, d)
    assert first["size"] == 2
    e = await filed(client, resident, moved(-100))
    second = await cluster_of(client, admin, e)
    assert second["size"] == 2
    assert second["id"] != first["id"]
    # B, 140 m from both A and C, chains them: one cluster, the older one's id.
    b = await filed(client, resident, moved(140))
    clusters = [await cluster_of(client, admin, i) for i in (a, b, c, d, e)]
    assert clusters == [{"id": first["id"], "size": 5}] * 5
    gone = await client.get(f"/v1/incident-clusters/{second['id']}", headers=admin.headers)
    assert gone.status_code == 404
    listed = (await client.get("/v1/incident-clusters", headers=admin.headers)).json()
    assert [item["id"] for item in listed["items"]] == [first["id"]]
    assert listed["items"][0]["statuses"]["submitted"] == 5
    members = await client.get(f"/v1/incident-clusters/{first['id']}", headers=admin.headers)
    assert [m["id"] for m in members.json()["members"]] == [a, c, d, e, b]  # oldest first


async def test_the_radius_and_window_bounds(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin, resident = await new_admin(app, client), await new_account(client)
    cases = [  # (east of the first, later than the first, joined)
        (148.0, timedelta(0), True),
        (152.0, timedelta(0), False),
        (0.0, timedelta(hours=5, minutes=59), True),
        (0.0, timedelta(hours=6, minutes=1), False),
        (0.0, -timedelta(hours=5, minutes=59), True),
        (0.0, -timedelta(hours=6, minutes=1), False),
    ]
    for n, (east, later, joined) in enumerate(cases):
        start = moved(0, 400 * n - 1_000)  # 400 m apart: no case reaches another
        first = await filed(client, resident, start)
        second = await filed(client, resident, moved(east, 0, (start[0], start[1])), WHEN + later)
        found = await cluster_of(client, admin, second)
        assert (found is not None) == joined, (east, later)
        assert await cluster_of(client, admin, first) == found


async def test_categories_are_kept_apart(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin, resident = await new_admin(app, client), await new_account(client)
    burglary = await filed(client, resident, moved(0))
    vehicle = await filed(client, resident, moved(10), category="vehicle_crime")
    assert await cluster_of(client, admin, burglary) is None
    assert await cluster_of(client, admin, vehicle) is None
    same = await filed(client, resident, moved(20))
    assert (await cluster_of(client, admin, same))["size"] == 2
    assert await cluster_of(client, admin, vehicle) is None


async def test_rejected_reports_take_no_new_members(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin, resident = await new_admin(app, client), await new_account(client)
    first = await filed(client, resident, moved(0))
    rejected = await client.post(
        f"/v1/incidents/{first}/transitions",
        headers=admin.headers,
        json={"status": "rejected", "note": "A film crew"},
    )
    assert rejected.status_code == 200, rejected.text
    later = await filed(client, resident, moved(30))
    assert await cluster_of(client, admin, later) is None


async def test_concurrent_submissions_that_chain_land_in_one_cluster(
    app_factory: AppFactory,
) -> None:
    """Two app instances (two intakes, two transactions at once on PostgreSQL): the odd
    links of a chain from one, the even from the other, all at the same moment."""
    async with app_factory() as (app, one), app_factory() as (_, two):
        admin = await new_admin(app, one)
        residents = [await new_account(one) for _ in range(8)]
        for round_ in range(3):  # three chains, far apart, each of 8 reports 100 m apart
            start = moved(0, 600 * round_ - 600)
            points = [moved(100 * n, 0, (start[0], start[1])) for n in range(8)]
            answers = await asyncio.gather(
                *(
                    report(
                        (one, two)[n % 2],
                        residents[n],
                        location={"type": "Point", "coordinates": point},
                        occurred_at=WHEN.isoformat(),
                    )
                    for n, point in enumerate(points)
                )
            )
            assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
            found = [await cluster_of(one, admin, a.json()["id"]) for a in answers]
            assert found[0] is not None
            assert found == [{"id": found[0]["id"], "size": 8}] * 8, round_


async def test_erased_reporters_reports_stay_in_their_cluster(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin, leaving, staying = (
        await new_admin(app, client),
        await new_account(client),
        await new_account(client),
    )
    mine = await filed(client, leaving, moved(0))
    theirs = await filed(client, staying, moved(50))
    cluster = await cluster_of(client, admin, mine)
    erased = await client.request(
        "DELETE", "/v1/me", headers=leaving.headers, json={"password": leaving.password}
    )
    assert erased.status_code == 204, erased.text
    read = await client.get(f"/v1/incident-clusters/{cluster['id']}", headers=admin.headers)
    assert read.status_code == 200, read.text
    members = {m["id"]: m for m in read.json()["members"]}
    assert set(members) == {mine, theirs}
    assert members[mine]["reporter"] is None
    assert members[mine]["location_exact"] is False  # the snapped point now, for everyone
    # And a new report still joins it, through the anonymised one's (snapped) point.
    later = await filed(client, staying, members[mine]["location"]["coordinates"])
    assert await cluster_of(client, admin, later) == {"id": cluster["id"], "size": 3}


async def test_a_flood_at_one_spot_is_one_cluster_within_the_candidate_bound(
    app_factory: AppFactory,
) -> None:
    """Four times NW_CORROBORATION_MAX_CANDIDATES reports within a few metres, in rounds
    of three at once (one batch): one cluster, however many candidates each examined."""
    async with app_factory(corroboration_max_candidates=10) as (app, client):
        admin = await new_admin(app, client)
        residents = [await new_account(client) for _ in range(3)]

        async def one(who: Account, n: int) -> str:
            answer = await report(
                client,
                who,
                location={"type": "Point", "coordinates": moved(n % 5)},
                occurred_at=WHEN.isoformat(),
            )
            assert answer.status_code == 201, answer.text
            incident_id: str = answer.json()["id"]
            return incident_id

        ids: list[str] = []
        for n in range(14):
            ids += await asyncio.gather(*(one(who, n) for who in residents))
        assert len({(await cluster_of(client, admin, i))["id"] for i in ids}) == 1
        assert (await cluster_of(client, admin, ids[0]))["size"] == len(ids) == 42
