"""Attacks on a reporter's privacy through groups: none places a report more precisely
than the snapped point its viewer is shown, or names an anonymous reporter."""

from __future__ import annotations

import math
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlmodel import col

from app.geo.privacy import METRES_PER_DEGREE, snap
from app.geo.shapes import haversine_m
from app.push.dispatcher import Dispatcher
from app.realtime.models import LoggedEvent
from tests.alerts.factories import circle
from tests.auth.factories import Account, new_account
from tests.groups.factories import join, new_group, outbox_events, verify
from tests.incidents.factories import SPOT, report
from tests.push.factories import RecordingSender, drain

SNAPPED = snap(*SPOT)
# 60 m east of the exact spot.
EAST_60M = (SPOT[0] + 60 / (METRES_PER_DEGREE * math.cos(math.radians(SPOT[1]))), SPOT[1])


def test_the_probe_points_are_apart() -> None:
    # What the probes below rely on: 25 m circles around each hold only their own point.
    assert haversine_m(*SPOT, *SNAPPED) > 100
    assert haversine_m(*EAST_60M, *SNAPPED) > 100
    assert 59 < haversine_m(*SPOT, *EAST_60M) < 61


async def ids_in(client: httpx.AsyncClient, who: Account, group_id: str) -> list[str]:
    answer = await client.get("/v1/incidents", headers=who.headers, params={"group_id": group_id})
    assert answer.status_code == 200, answer.text
    return [i["id"] for i in answer.json()["items"]]


async def counted(client: httpx.AsyncClient, who: Account, group_id: str) -> int:
    answer = await client.get(f"/v1/groups/{group_id}/stats", headers=who.headers)
    assert answer.status_code == 200, answer.text
    return sum(answer.json()["current"]["totals"].values())


async def told_after_dispatch(app: FastAPI) -> set[uuid.UUID]:
    """Whoever the dispatcher tells of anything (their event log), once it has run."""
    await drain(Dispatcher(app.state.sessionmaker, RecordingSender()))
    async with app.state.sessionmaker() as session:
        return set((await session.execute(select(col(LoggedEvent.user_id)))).scalars())


async def tiny_groups(client: httpx.AsyncClient, prober: Account) -> dict[str, dict[str, Any]]:
    return {
        name: await new_group(
            client, prober, name=name, visibility="public", area=circle(where, 25)
        )
        for name, where in (("exact", SPOT), ("snapped", SNAPPED), ("east", EAST_60M))
    }


async def test_a_new_groups_owner_never_learns_the_reporter_or_the_point(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    reporter, attacker = (
        await new_account(client, display_name="Reporter"),
        await new_account(client),
    )
    anonymous = (await report(client, reporter, anonymous=True)).json()
    made = await client.post(
        "/v1/groups",
        headers=attacker.headers,
        json={
            "name": "Totally Real Watch",
            "visibility": "private",
            "area": circle(SPOT, 1_500),
        },
    )
    assert made.status_code == 201, made.text
    group = made.json()

    async def looks() -> dict[str, Any]:
        seen = await client.get(f"/v1/incidents/{anonymous['id']}", headers=attacker.headers)
        assert seen.status_code in (200, 404)
        body: dict[str, Any] = seen.json()
        return body

    for round_ in range(2):
        if round_:  # once the group is verified, what was filed before is not its to moderate
            await verify(app, client, group["id"])
        body = await looks()
        if "location" in body:
            assert body["location"]["coordinates"] == list(SNAPPED)
            assert body["location_exact"] is False
            assert body["reporter"] is None
            assert body["accuracy_m"] is None
        listed = (await client.get("/v1/incidents", headers=attacker.headers)).json()["items"]
        assert all(i["reporter"] is None and not i["location_exact"] for i in listed)
        rejected = await client.post(
            f"/v1/incidents/{anonymous['id']}/transitions",
            headers=attacker.headers,
            json={"status": "rejected", "note": "fake"},
        )
        assert rejected.status_code in (403, 404)
        history = await client.get(
            f"/v1/incidents/{anonymous['id']}/history", headers=attacker.headers
        )
        assert history.status_code in (403, 404)
    assert await outbox_events(app, "incident.status_changed") == []


async def test_group_filters_and_statistics_match_the_snapped_point(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    reporter, prober = await new_account(client), await new_account(client)
    groups = await tiny_groups(client, prober)
    incident = (await report(client, reporter, anonymous=True)).json()
    found = {name: await ids_in(client, prober, g["id"]) for name, g in groups.items()}
    assert found == {"exact": [], "snapped": [incident["id"]], "east": []}
    counts = {name: await counted(client, prober, g["id"]) for name, g in groups.items()}
    assert counts == {"exact": 0, "snapped": 1, "east": 0}


async def test_membership_of_a_tiny_group_shows_only_the_snapped_point(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    reporter, prober, other = [await new_account(client) for _ in range(3)]
    at_spot = await new_group(client, prober, visibility="public", area=circle(SPOT, 25))
    await join(client, other, at_spot["id"])
    incident = (await report(client, reporter, anonymous=True)).json()
    listed = (await client.get("/v1/incidents", headers=other.headers)).json()["items"]
    assert listed == []
    direct = await client.get(f"/v1/incidents/{incident['id']}", headers=other.headers)
    assert direct.status_code == 404
    told = await told_after_dispatch(app)
    assert other.id not in told
    assert prober.id not in told


async def test_members_of_a_group_holding_the_snapped_point_hear_of_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    reporter, owner, member = [await new_account(client) for _ in range(3)]
    at_snapped = await new_group(client, owner, visibility="public", area=circle(SNAPPED, 25))
    await join(client, member, at_snapped["id"])
    incident = (await report(client, reporter, anonymous=True)).json()
    told = await told_after_dispatch(app)
    assert told == {owner.id, member.id}
    seen = (await client.get(f"/v1/incidents/{incident['id']}", headers=member.headers)).json()
    assert seen["location"]["coordinates"] == list(SNAPPED)
