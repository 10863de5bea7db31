"""Area statistics against a fixture whose answer was worked out by hand."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI

from app.incidents import service as incident_service
from tests.auth.factories import new_account
from tests.groups.factories import join, new_group
from tests.incidents.factories import SPOT, seed_rows

LEEDS = (-1.55, 53.8)

# (occurred at, category, status, where)
FIXTURE = [
    ("2026-10-05T10:00", "burglary", "submitted", SPOT),  # W41
    ("2026-10-07T12:00", "burglary", "verified", SPOT),  # W41
    ("2026-10-11T23:30", "theft", "rejected", SPOT),  # W41, rejected: not counted
    ("2026-10-12T00:00", "theft", "resolved", SPOT),  # W42
    ("2026-10-18T23:59", "vehicle_crime", "forwarded", SPOT),  # W42
    ("2026-10-19T00:00", "burglary", "submitted", SPOT),  # after the period
    ("2026-10-06T09:00", "burglary", "submitted", LEEDS),  # outside the area
    ("2026-09-28T08:00", "burglary", "submitted", SPOT),  # previous period, W40
    ("2026-09-21T00:00", "theft", "verified", SPOT),  # previous period, W39
    ("2026-09-20T23:59", "theft", "verified", SPOT),  # before both periods
    ("2026-12-31T18:00", "drugs", "submitted", SPOT),  # 2026-W53 (a Thursday)
    ("2027-01-01T10:00", "drugs", "verified", SPOT),  # still 2026-W53
    ("2027-01-04T10:00", "drugs", "submitted", SPOT),  # 2027-W01
]


async def seed(app: FastAPI, reporter: uuid.UUID) -> None:
    await seed_rows(app, reporter, [(w, c, s, p, p) for w, c, s, p in FIXTURE])


@pytest.mark.parametrize("chunk", [10_000, 2])
async def test_stats_by_category_and_iso_week(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    # chunk=2 makes the database aggregate in several statements that are then merged.
    monkeypatch.setattr(incident_service, "STATS_CHUNK", chunk)
    owner, member, outsider = (
        await new_account(client),
        await new_account(client),
        await new_account(client),
    )
    group = await new_group(client, owner, join_policy="open")
    await join(client, member, group["id"])
    await seed(app, owner.id)
    path = f"/v1/groups/{group['id']}/stats"
    answer = await client.get(
        path, headers=member.headers, params={"from": "2026-10-05", "to": "2026-10-19"}
    )
    assert answer.status_code == 200, answer.text
    stats = answer.json()
    assert stats["current"] == {
        "start": "2026-10-05",
        "end": "2026-10-19",
        "weeks": [
            {"week": "2026-W41", "category": "burglary", "submitted": 2, "verified": 1},
            {"week": "2026-W42", "category": "theft", "submitted": 1, "verified": 1},
            {"week": "2026-W42", "category": "vehicle_crime", "submitted": 1, "verified": 1},
        ],
        "totals": {"burglary": 2, "theft": 1, "vehicle_crime": 1},
    }
    assert stats["previous"] == {
        "start": "2026-09-21",
        "end": "2026-10-05",
        "weeks": [
            {"week": "2026-W39", "category": "theft", "submitted": 1, "verified": 1},
            {"week": "2026-W40", "category": "burglary", "submitted": 1, "verified": 0},
        ],
        "totals": {"theft": 1, "burglary": 1},
    }
    new_year = (
        await client.get(
            path, headers=member.headers, params={"from": "2026-12-28", "to": "2027-01-11"}
        )
    ).json()
    assert new_year["current"]["weeks"] == [
        {"week": "2026-W53", "category": "drugs", "submitted": 2, "verified": 1},
        {"week": "2027-W01", "category": "drugs", "submitted": 1, "verified": 0},
    ]
    assert (await client.get(path, headers=outsider.headers)).status_code == 403
    backwards = await client.get(
        path, headers=member.headers, params={"from": "2026-10-19", "to": "2026-10-05"}
    )
    assert backwards.status_code == 422


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("0001-01-01", "0001-01-02", "from"),
        (None, "0001-01-02", "to"),
        ("2026-01-01", "9999-12-31", "to"),
    ],
)
async def test_stats_for_days_at_the_ends_of_the_calendar_are_a_422(
    client: httpx.AsyncClient, start: str | None, end: str, field: str
) -> None:
    owner = await new_account(client)
    group = await new_group(client, owner)
    params = {"to": end, **({"from": start} if start else {})}
    answer = await client.get(
        f"/v1/groups/{group['id']}/stats", headers=owner.headers, params=params
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == field
