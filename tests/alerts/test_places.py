"""Places and preferences: validation, limits, and privacy."""

from __future__ import annotations

import httpx

from tests.alerts.factories import LONDON, watch
from tests.auth.factories import new_account


async def test_places_are_private_and_limited(client: httpx.AsyncClient) -> None:
    ann, eve = await new_account(client), await new_account(client)
    place = await watch(client, ann, LONDON, 400, label="Home")
    assert place["location"] == {"type": "Point", "coordinates": list(LONDON)}
    assert (await client.get("/v1/me/places", headers=eve.headers)).json()["items"] == []
    for method in ("patch", "delete"):
        kwargs = {"json": {"label": "Mine"}} if method == "patch" else {}
        answer = await getattr(client, method)(
            f"/v1/me/places/{place['id']}", headers=eve.headers, **kwargs
        )
        assert answer.status_code == 404
    moved = await client.patch(
        f"/v1/me/places/{place['id']}",
        headers=ann.headers,
        json={"radius_m": 900, "label": "Home (wide)"},
    )
    assert moved.json()["radius_m"] == 900
    for i in range(9):
        await watch(client, ann, LONDON, 100, label=f"p{i}")
    eleventh = await client.post(
        "/v1/me/places",
        headers=ann.headers,
        json={
            "label": "one too many",
            "location": {"type": "Point", "coordinates": list(LONDON)},
            "radius_m": 100,
        },
    )
    assert eleventh.status_code == 409
    gone = await client.delete(f"/v1/me/places/{place['id']}", headers=ann.headers)
    assert gone.status_code == 204


async def test_place_validation(client: httpx.AsyncClient) -> None:
    ann = await new_account(client)
    answer = await client.post(
        "/v1/me/places",
        headers=ann.headers,
        json={
            "label": "",
            "location": {"type": "Point", "coordinates": [-200, 51]},
            "radius_m": 10,
        },
    )
    assert answer.status_code == 422
    assert {e["field"] for e in answer.json()["errors"]} == {
        "label",
        "location.coordinates",
        "radius_m",
    }


async def test_preferences_round_trip_and_validation(client: httpx.AsyncClient) -> None:
    ann = await new_account(client)
    defaults = (await client.get("/v1/me/preferences", headers=ann.headers)).json()
    assert defaults == {"muted_categories": [], "min_severity": "minor", "quiet_hours": None}
    body = {
        "muted_categories": ["drugs", "fraud_scam"],
        "min_severity": "moderate",
        "quiet_hours": {"start": "22:30", "end": "06:45", "timezone": "Europe/London"},
    }
    saved = await client.put("/v1/me/preferences", headers=ann.headers, json=body)
    assert saved.status_code == 200
    assert saved.json() == body
    bad = await client.put(
        "/v1/me/preferences",
        headers=ann.headers,
        json={
            "muted_categories": ["weather"],
            "min_severity": "loud",
            "quiet_hours": {"start": "25:00", "end": "7", "timezone": "Moon/Base"},
        },
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {
        "muted_categories.0",
        "min_severity",
        "quiet_hours.start",
        "quiet_hours.end",
        "quiet_hours.timezone",
    }
    assert (await client.get("/v1/me/preferences", headers=ann.headers)).json() == body
