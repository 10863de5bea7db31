"""Alert statistics must not tell an issuer whether someone watches a spot: reach figures
are rounded to two significant figures and "<10" under ten, the median ack time is hidden
under ten acks, and coordinators' alerts cover at least NW_MIN_ALERT_RADIUS_M."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.alerts.service import disclosed
from tests.alerts.factories import LONDON, circle, issue, new_agency, watch
from tests.auth.factories import Account, new_account
from tests.groups.factories import join, new_group

# A resident's home, and a spot 300 m east of it (both well inside the group).
HOME = (-0.1276, 51.5072)
AWAY = (-0.1276 + 300 / (111_320 * math.cos(math.radians(51.5072))), 51.5072)


@pytest.mark.parametrize(
    ("count", "shown"),
    [(0, "<10"), (9, "<10"), (10, 10), (99, 99), (123, 120), (125, 130), (1_234, 1_200)],
)
def test_reach_figures_are_rounded_to_two_significant_figures(count: int, shown: Any) -> None:
    assert disclosed(count) == shown


async def _group_with_residents(
    client: httpx.AsyncClient, homes: list[tuple[float, float]]
) -> tuple[Account, dict[str, Any]]:
    owner = await new_account(client)
    group = await new_group(client, owner, area=circle(LONDON, 1_750), join_policy="open")
    for home in homes:
        resident = await new_account(client)
        await join(client, resident, group["id"])
        await watch(client, resident, home, 50)
    return owner, group


async def _stats(client: httpx.AsyncClient, issuer: Account, alert: httpx.Response) -> Any:
    assert alert.status_code == 201, alert.text
    answer = await client.get(f"/v1/alerts/{alert.json()['id']}/stats", headers=issuer.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_the_home_probe_reads_the_same_at_the_home_and_300_m_away(
    client: httpx.AsyncClient,
) -> None:
    # Three residents watch 50 m around the home, two more 300 m away.
    coordinator, group = await _group_with_residents(client, [HOME] * 3 + [AWAY] * 2)
    probe = await issue(
        client, coordinator, group_id=group["id"], area=circle(HOME, 25), status="exercise"
    )
    assert probe.status_code == 422, probe.text
    assert probe.json()["errors"][0]["field"] == "area.radius_m"
    assert "200" in probe.json()["errors"][0]["message"]
    at_home = await _stats(
        client,
        coordinator,
        await issue(
            client, coordinator, group_id=group["id"], area=circle(HOME, 200), status="exercise"
        ),
    )
    away = await _stats(
        client,
        coordinator,
        await issue(
            client, coordinator, group_id=group["id"], area=circle(AWAY, 200), status="exercise"
        ),
    )
    assert at_home == away
    assert at_home == {
        "recipients": "<10",
        "push": {"sent": "<10", "failed": "<10", "pending": "<10"},
        "realtime_delivered": "<10",
        "acks": {"seen": "<10", "acted": "<10", "dismissed": "<10"},
        "actions": [
            {
                "index": 0,
                "action_id": None,
                "text": "Lock your shed and mark your tools",
                "acted": "<10",
            },
            {"index": 1, "action_id": None, "text": "Report sightings", "acted": "<10"},
        ],
        "median_ack_s": None,
    }


async def test_reach_of_ten_or_more_is_shown_and_few_acks_hide_the_median(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    residents = [await new_account(client) for _ in range(12)]
    for resident in residents:
        await watch(client, resident, LONDON)
    alert = await issue(client, officer)
    path = f"/v1/alerts/{alert.json()['id']}"
    for resident in residents[:9]:
        await client.post(f"{path}/ack", headers=resident.headers, json={"kind": "seen"})
    few = await _stats(client, officer, alert)
    assert few["recipients"] == 12
    assert few["acks"]["seen"] == "<10"
    assert few["median_ack_s"] is None  # nine people's answers would be timed
    await client.post(f"{path}/ack", headers=residents[9].headers, json={"kind": "seen"})
    ten = await _stats(client, officer, alert)
    assert ten["acks"]["seen"] == 10
    assert ten["median_ack_s"] >= 0


async def test_a_coordinators_polygon_needs_the_area_of_the_minimum_circle(
    client: httpx.AsyncClient,
) -> None:
    coordinator, group = await _group_with_residents(client, [])

    def square(side_m: float) -> dict[str, Any]:
        dlat = side_m / 111_320
        dlon = side_m / (111_320 * math.cos(math.radians(HOME[1])))
        lon, lat = HOME
        ring = [[lon, lat], [lon + dlon, lat], [lon + dlon, lat + dlat], [lon, lat + dlat]]
        return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}

    # π·200² m² is a square of 354.5 m.
    small = await issue(client, coordinator, group_id=group["id"], area=square(340))
    assert small.status_code == 422, small.text
    assert small.json()["errors"][0]["field"] == "area.coordinates"
    # Each polygon of a MultiPolygon on its own: a tiny part beside a large one would
    # probe one house while the large one made up the area.
    north = {
        "type": "Polygon",
        "coordinates": [[[x, y + 0.01] for x, y in square(500)["coordinates"][0]]],
    }
    smuggled = await issue(
        client,
        coordinator,
        group_id=group["id"],
        area={
            "type": "MultiPolygon",
            "coordinates": [north["coordinates"], square(2)["coordinates"]],
        },
    )
    assert smuggled.status_code == 422, smuggled.text
    assert smuggled.json()["errors"][0]["field"] == "area.coordinates"
    big = await issue(client, coordinator, group_id=group["id"], area=square(370))
    assert big.status_code == 201, big.text
    update = await client.post(
        f"/v1/alerts/{big.json()['id']}/update",
        headers=coordinator.headers,
        json={"area": square(100)},
    )
    assert update.status_code == 422, update.text
    assert update.json()["errors"][0]["field"] == "area.coordinates"
    shrink = await client.post(
        f"/v1/alerts/{big.json()['id']}/update",
        headers=coordinator.headers,
        json={"area": circle(HOME, 50)},
    )
    assert shrink.status_code == 422, shrink.text
    assert shrink.json()["errors"][0]["field"] == "area.radius_m"


async def test_agency_officers_keep_the_25_m_minimum(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    assert (await issue(client, officer, area=circle(HOME, 25))).status_code == 201
    group = await new_group(client, officer, area=circle(LONDON, 2_000))
    through_group = await issue(client, officer, group_id=group["id"], area=circle(HOME, 25))
    assert through_group.status_code == 201, through_group.text


async def test_a_coordinator_cannot_default_to_a_tiny_groups_area(
    client: httpx.AsyncClient,
) -> None:
    owner = await new_account(client)
    tiny = await new_group(client, owner, area=circle(HOME, 50))
    answer = await issue(client, owner, group_id=tiny["id"], area=None)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "area"
