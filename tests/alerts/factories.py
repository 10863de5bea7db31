"""Alerts, places and issuers for tests, made through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from tests.auth.factories import Account, new_account, new_admin

# Central London, and a point 30 km away in Surrey.
LONDON = (-0.1276, 51.5072)
SURREY = (-0.35, 51.25)
JURISDICTION = {"type": "Point", "coordinates": list(LONDON), "radius_m": 20_000}


def in_hours(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def circle(lon_lat: tuple[float, float], radius_m: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": list(lon_lat), "radius_m": radius_m}


async def new_agency(
    app: FastAPI, client: httpx.AsyncClient, jurisdiction: dict[str, Any] = JURISDICTION
) -> Account:
    admin = await new_admin(app, client)
    officer = await new_account(client, display_name="PC Plod")
    answer = await client.patch(
        f"/v1/admin/users/{officer.id}",
        headers=admin.headers,
        json={"role": "agency", "jurisdiction": jurisdiction},
    )
    assert answer.status_code == 200, answer.text
    return officer


async def watch(
    client: httpx.AsyncClient,
    account: Account,
    lon_lat: tuple[float, float],
    radius_m: float = 500,
    label: str = "Home",
) -> dict[str, Any]:
    answer = await client.post(
        "/v1/me/places",
        headers=account.headers,
        json={
            "label": label,
            "location": {"type": "Point", "coordinates": list(lon_lat)},
            "radius_m": radius_m,
        },
    )
    assert answer.status_code == 201, answer.text
    place: dict[str, Any] = answer.json()
    return place


def alert_body(**fields: Any) -> dict[str, Any]:
    return {
        "title": "Shed break-ins on Elm Street",
        "body": "Three sheds were forced open last night.",
        "category": "burglary",
        "severity": "moderate",
        "urgency": "expected",
        "certainty": "observed",
        "area": circle(LONDON, 1_000),
        "expires_at": in_hours(24),
        "actions": [
            {"text": "Lock your shed and mark your tools"},
            {"text": "Report sightings", "url": "https://www.police.uk/"},
        ],
        **fields,
    }


async def issue(client: httpx.AsyncClient, issuer: Account, **fields: Any) -> httpx.Response:
    return await client.post("/v1/alerts", headers=issuer.headers, json=alert_body(**fields))
