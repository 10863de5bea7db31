"""The attacker: a verified group's coordinator asks /v1/areas/stats for many small
areas around a report. The answers depend on the report's snapped point alone, and one
report is indistinguishable from none, so no set of areas locates the reporter."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.geo.privacy import METRES_PER_DEGREE, snap
from app.geo.shapes import haversine_m
from tests.auth.factories import Account, new_account
from tests.conftest import AppFactory
from tests.groups.factories import new_group, verify
from tests.incidents.factories import SPOT, report

SNAPPED = snap(*SPOT)
RADIUS_M = 25.0  # the smallest area anyone may draw
STEP_M, REACH_M = 50.0, 200.0


def moved(lon_lat: tuple[float, float], east_m: float, north_m: float) -> tuple[float, float]:
    lon, lat = lon_lat
    return (
        lon + east_m / (METRES_PER_DEGREE * math.cos(math.radians(lat))),
        lat + north_m / METRES_PER_DEGREE,
    )


def probes() -> list[tuple[float, float]]:
    steps = range(-int(REACH_M / STEP_M), int(REACH_M / STEP_M) + 1)
    grid = [moved(SPOT, i * STEP_M, j * STEP_M) for i in steps for j in steps]
    return [SPOT, SNAPPED, moved(SPOT, 10, 0), moved(SPOT, 0, -10), *grid]


async def burglaries(
    client: httpx.AsyncClient, prober: Account, centre: tuple[float, float], month: str
) -> Any:
    area = {"type": "Point", "coordinates": list(centre), "radius_m": RADIUS_M}
    answer = await client.get(
        "/v1/areas/stats",
        headers=prober.headers,
        params={"area": json.dumps(area), "from": month, "to": month},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["police"]["current"]["totals"]["burglary"] == 0
    return body["residents"]["current"]["totals"]["burglary"]


def test_the_probes_straddle_the_two_points() -> None:
    assert haversine_m(*SPOT, *SNAPPED) > 4 * RADIUS_M
    assert any(haversine_m(*p, *SNAPPED) <= RADIUS_M for p in probes())


async def test_many_small_areas_do_not_locate_a_report(app_factory: AppFactory) -> None:
    async with app_factory(area_stats_per_user_per_hour=10_000) as (app, client):
        prober = await new_account(client)
        group = await new_group(client, prober, name="Probe Watch")
        await verify(app, client, group["id"])
        occurred = datetime.now(UTC) - timedelta(hours=2)
        month = f"{occurred:%Y-%m}"
        reporters = [await new_account(client) for _ in range(10)]
        first = await report(client, reporters[0], occurred_at=occurred.isoformat())
        assert first.status_code == 201, first.text

        # One report: every area around it, on it or on its cell's centre, says "<10",
        # as it would if there were none.
        for centre in (SPOT, SNAPPED, moved(SPOT, 30, 0)):
            assert await burglaries(client, prober, centre, month) == "<10"

        for reporter in reporters[1:]:
            answer = await report(client, reporter, occurred_at=occurred.isoformat())
            assert answer.status_code == 201, answer.text
        # Ten reports from one doorstep: counted where the snapped point is, nowhere else.
        for centre in probes():
            to_snapped = haversine_m(*centre, *SNAPPED)
            if abs(to_snapped - RADIUS_M) < 0.5:
                continue  # on the circle's edge, either answer is right
            expected = 10 if to_snapped < RADIUS_M else "<10"
            got = await burglaries(client, prober, centre, month)
            assert got == expected, (centre, to_snapped, haversine_m(*centre, *SPOT))
        # Above all: a circle drawn tightly around the doorstep itself finds nothing.
        assert await burglaries(client, prober, SPOT, month) == "<10"
