"""Submitting reports: retries are safe, bad input is refused, floods are limited."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.incidents.models import Incident
from tests.auth.factories import new_account
from tests.conftest import AppFactory
from tests.incidents.factories import SPOT, report, report_body


async def incident_count(app: FastAPI) -> int:
    async with app.state.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Incident)) or 0)


async def test_submit_answers_the_reporter_view(app: FastAPI, client: httpx.AsyncClient) -> None:
    ann = await new_account(client, display_name="Ann")
    answer = await report(client, ann)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "submitted"
    assert body["location"] == {"type": "Point", "coordinates": list(SPOT)}
    assert body["location_exact"] is True
    assert body["reporter"]["display_name"] == "Ann"
    assert body["anonymous"] is True
    categories = (await client.get("/v1/incident-categories", headers=ann.headers)).json()
    assert {"id": "fraud_scam", "label": "Fraud or scam"} in categories
    assert len(categories) == 11


async def test_same_key_same_body_gives_the_original_answer(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ann = await new_account(client)
    body = report_body()
    headers = {**ann.headers, "Idempotency-Key": "retry-1"}
    first = await client.post("/v1/incidents", headers=headers, json=body)
    again = await client.post("/v1/incidents", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert await incident_count(app) == 1
    other = await client.post(
        "/v1/incidents", headers=headers, json={**body, "description": "Something else"}
    )
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert await incident_count(app) == 1
    # Keys are per user: someone else's identical key is a different request.
    bob = await new_account(client)
    bobs = await client.post(
        "/v1/incidents", headers={**bob.headers, "Idempotency-Key": "retry-1"}, json=body
    )
    assert bobs.status_code == 201
    assert bobs.json()["id"] != first.json()["id"]


async def test_fifty_concurrent_retries_create_one_incident(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ann = await new_account(client)
    body = report_body()
    headers = {**ann.headers, "Idempotency-Key": "flaky-network"}
    answers = await asyncio.gather(
        *(client.post("/v1/incidents", headers=headers, json=body) for _ in range(50))
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert await incident_count(app) == 1


async def test_rate_limit(app_factory: AppFactory) -> None:
    async with app_factory(incidents_per_hour=3) as (app, client):
        ann = await new_account(client)
        for _ in range(3):
            assert (await report(client, ann)).status_code == 201
        limited = await report(client, ann)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 0
        assert limited.headers["content-type"] == "application/problem+json"
        assert await incident_count(app) == 3


async def test_bad_input_is_refused_and_nothing_stored(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ann = await new_account(client)
    now = datetime.now(UTC)
    cases: dict[str, dict[str, Any]] = {
        "category": {"category": "littering"},
        "occurred_at": {"occurred_at": (now + timedelta(hours=1)).isoformat()},
        "location.coordinates": {"location": {"type": "Point", "coordinates": [0, 91]}},
        "description": {"description": "x" * 4001},
    }
    for field, change in cases.items():
        answer = await client.post("/v1/incidents", headers=ann.headers, json=report_body(**change))
        assert answer.status_code == 422, (field, answer.text)
        assert answer.json()["errors"][0]["field"] == field
    old = await client.post(
        "/v1/incidents",
        headers=ann.headers,
        json=report_body(occurred_at=(now - timedelta(days=31)).isoformat()),
    )
    assert old.json()["errors"][0]["field"] == "occurred_at"
    naive = await client.post(
        "/v1/incidents", headers=ann.headers, json=report_body(occurred_at="2026-11-23T10:00:00")
    )
    assert naive.status_code == 422
    assert await incident_count(app) == 0


@pytest.mark.parametrize("occurred_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
async def test_an_occurred_at_outside_the_years_datetime_holds_is_a_422(
    app: FastAPI, client: httpx.AsyncClient, occurred_at: str
) -> None:
    ann = await new_account(client)
    for key in (None, "fuzzed-1"):
        answer = await report(client, ann, key, occurred_at=occurred_at)
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == "occurred_at"
    assert await incident_count(app) == 0
