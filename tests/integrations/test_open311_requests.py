"""GET /requests as a client reads it: which reports anyone is shown, each parameter of
the specification alone and together, at the 90-day and 1,000-result limits, in both
formats, every answer valid against the standard's schema."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from app.incidents.models import Incident
from tests.auth.factories import Account, new_account, new_admin
from tests.conftest import AppFactory
from tests.groups.factories import CAMDEN, new_group
from tests.integrations.open311 import (
    BASE,
    CONTACT,
    FORMATS,
    assert_errors,
    both,
    post_request,
    validate,
    writer,
)

IN_CAMDEN = (-0.14, 51.5375)
IN_ACTON = (-0.27, 51.51)
NOWHERE = (-0.40, 51.40)
REJECTION_NOTE = "Filed by the neighbour at number 12 out of spite"
POLICE_REFERENCE = "MET-2026-99881"


def _w3c(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


async def _file(client: httpx.AsyncClient, key: str, **fields: Any) -> str:
    answer = await post_request(client, key, **fields)
    assert answer.status_code == 200, answer.text
    request_id: str = answer.json()[0]["service_request_id"]
    return request_id


async def _move(app: FastAPI, request_id: str, reported_at: datetime) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(Incident)
            .where(col(Incident.id) == uuid.UUID(request_id))
            .values(reported_at=reported_at)
        )


async def _moderate(
    client: httpx.AsyncClient, admin: Account, request_id: str, *steps: str
) -> None:
    for step in steps:
        body: dict[str, str] = {"status": step}
        if step == "rejected":
            body["note"] = REJECTION_NOTE
        if step == "forwarded":
            body["police_reference"] = POLICE_REFERENCE
        answer = await client.post(
            f"/v1/incidents/{request_id}/transitions", headers=admin.headers, json=body
        )
        assert answer.status_code == 200, answer.text


async def _ids(client: httpx.AsyncClient, **params: Any) -> list[str]:
    status, body = await both(client, "/requests", **params)
    assert status == 200, body
    validate("requests", body)
    return [r["service_request_id"] for r in body]


@pytest.fixture
async def reports(app: FastAPI, client: httpx.AsyncClient) -> dict[str, str]:
    """Reports of every kind, by name; those in the public, open group are shown."""
    await new_group(client, await new_account(client))  # LONDON: public, open
    await new_group(client, await new_account(client), area=CAMDEN, visibility="private")
    acton = {"type": "Point", "coordinates": list(IN_ACTON), "radius_m": 1_000}
    await new_group(client, await new_account(client), area=acton, join_policy="request")
    admin = await new_admin(app, client)
    key = (await writer(app, client)).secret
    made = {
        "open": await _file(client, key),
        "verified": await _file(client, key, service_code="theft"),
        "forwarded": await _file(client, key, service_code="drugs"),
        "resolved": await _file(client, key, service_code="vehicle_crime"),
        "rejected": await _file(client, key, service_code="other"),
        "old": await _file(client, key),
        "private": await _file(client, key, lat=str(IN_CAMDEN[1]), long=str(IN_CAMDEN[0])),
        "by_request": await _file(client, key, lat=str(IN_ACTON[1]), long=str(IN_ACTON[0])),
        "nowhere": await _file(client, key, lat=str(NOWHERE[1]), long=str(NOWHERE[0])),
    }
    await _moderate(client, admin, made["verified"], "verified")
    await _moderate(client, admin, made["forwarded"], "verified", "forwarded")
    await _moderate(client, admin, made["resolved"], "verified", "resolved")
    await _moderate(client, admin, made["rejected"], "rejected")
    await _move(app, made["old"], datetime.now(UTC) - timedelta(days=100))
    return made


async def test_only_what_anyone_could_join_to_see_is_shown(
    client: httpx.AsyncClient, reports: dict[str, str]
) -> None:
    recent = ["open", "verified", "forwarded", "resolved", "rejected"]
    assert set(await _ids(client)) == {reports[name] for name in recent}
    for name in ("private", "by_request", "nowhere"):
        for fmt in FORMATS:
            answer = await client.get(f"{BASE}/requests/{reports[name]}.{fmt}")
            assert_errors(answer, fmt, 404, "service_request_id")
    status, [old] = await both(client, f"/requests/{reports['old']}")
    assert status == 200
    validate("requests", [old])


async def test_statuses_map_to_open_and_closed_with_public_notes(
    client: httpx.AsyncClient, reports: dict[str, str]
) -> None:
    status, body = await both(client, "/requests")
    assert status == 200
    by_id = {r["service_request_id"]: r for r in body}
    expected = {
        "open": ("open", "Submitted"),
        "verified": ("open", "Verified"),
        "forwarded": ("open", "Forwarded"),
        "resolved": ("closed", "Resolved"),
        "rejected": ("closed", "Rejected"),
    }
    for name, (state, note) in expected.items():
        shown = by_id[reports[name]]
        assert shown["status"] == state, shown
        assert shown["status_notes"].startswith(note), shown
    for fmt in FORMATS:
        text = (await client.get(f"{BASE}/requests.{fmt}")).text
        for secret in (REJECTION_NOTE, POLICE_REFERENCE, *CONTACT.values()):
            assert secret.lower() not in text.lower()
    opened = {reports[n] for n in ("open", "verified", "forwarded")}
    closed = {reports[n] for n in ("resolved", "rejected")}
    assert set(await _ids(client, status="open")) == opened
    assert set(await _ids(client, status="closed")) == closed
    assert set(await _ids(client, status="open,closed")) == opened | closed
    assert set(await _ids(client, status=" open , ")) == opened
    assert set(await _ids(client, status="")) == opened | closed
    for fmt in FORMATS:
        answer = await client.get(f"{BASE}/requests.{fmt}", params={"status": "pending"})
        assert_errors(answer, fmt, 400, "status")


async def test_service_codes_filter_and_unknown_ones_are_refused(
    client: httpx.AsyncClient, reports: dict[str, str]
) -> None:
    assert await _ids(client, service_code="burglary") == [reports["open"]]
    both_codes = await _ids(client, service_code="burglary,theft")
    assert set(both_codes) == {reports["open"], reports["verified"]}
    combined = await _ids(client, service_code="burglary,theft,other", status="closed")
    assert combined == [reports["rejected"]]
    for fmt in FORMATS:
        answer = await client.get(f"{BASE}/requests.{fmt}", params={"service_code": "x,theft"})
        assert_errors(answer, fmt, 400, "service_code")


async def test_ids_override_every_other_parameter(
    client: httpx.AsyncClient, reports: dict[str, str]
) -> None:
    wanted = ",".join(reports[n] for n in ("open", "old", "private", "resolved"))
    found = await _ids(
        client,
        service_request_id=wanted,
        status="closed",
        service_code="drugs",
        start_date="garbage",
    )
    assert set(found) == {reports["open"], reports["old"], reports["resolved"]}
    assert await _ids(client, service_request_id=f" {reports['old']} ,") == [reports["old"]]
    assert len(await _ids(client, service_request_id="")) == 5  # empty: absent
    for fmt in FORMATS:
        answer = await client.get(f"{BASE}/requests.{fmt}", params={"service_request_id": "12,abc"})
        assert_errors(answer, fmt, 400, "service_request_id")


async def test_dates_are_w3c_with_an_offset_and_span_at_most_90_days(
    client: httpx.AsyncClient, reports: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    old = [reports["old"]]
    window = {
        "start_date": _w3c(now - timedelta(days=120)),
        "end_date": _w3c(now - timedelta(days=30)),
    }
    assert await _ids(client, **window) == old  # exactly 90 days
    assert await _ids(client, **window, service_code="burglary", status="open") == old
    assert await _ids(client, **window, status="closed") == []
    assert await _ids(client, start_date=window["start_date"]) == old  # to 90 days after
    assert await _ids(client, end_date=_w3c(now - timedelta(days=95))) == old  # 90 days before
    zulu = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(await _ids(client, start_date=zulu)) == 5
    plus_two = (now + timedelta(hours=1)).astimezone(timezone(timedelta(hours=2)))
    assert len(await _ids(client, end_date=plus_two.isoformat(timespec="minutes"))) == 5
    assert len(await _ids(client, start_date="", end_date="")) == 5
    refused = [
        ({"start_date": "2026-11-01T00:00:00"}, "start_date"),  # no offset
        ({"end_date": "2026-11-01"}, "end_date"),
        ({"start_date": "2026-02-30T00:00:00Z"}, "start_date"),
        ({"start_date": "99999-01-01T00:00:00Z"}, "start_date"),
        ({"start_date": "0001-01-01T00:00:00Z"}, "start_date"),
        (
            {
                "start_date": _w3c(now - timedelta(days=90, seconds=1)),
                "end_date": _w3c(now),
            },
            "90 days",
        ),
        ({"start_date": _w3c(now), "end_date": _w3c(now - timedelta(days=1))}, "end_date"),
    ]
    for params, word in refused:
        for fmt in FORMATS:
            answer = await client.get(f"{BASE}/requests.{fmt}", params=params)
            assert_errors(answer, fmt, 400, word)


async def test_at_most_1000_results_newest_first(app_factory: AppFactory) -> None:
    async with app_factory(client_requests_per_minute=10_000) as (app, client):
        await new_group(client, await new_account(client))
        key = (await writer(app, client)).secret
        made: list[str] = []
        for start in range(0, 1001, 100):
            batch = [_file(client, key) for _ in range(min(100, 1001 - start))]
            made += await asyncio.gather(*batch)
        now = datetime.now(UTC)
        span = {
            "start_date": _w3c(now - timedelta(days=89)),
            "end_date": _w3c(now + timedelta(days=1)),
        }
        combinations: list[dict[str, str]] = [
            {},
            {"status": "open"},
            {"service_code": "burglary,theft"},
            span,
            {**span, "status": "open,closed", "service_code": "burglary"},
        ]
        newest: list[str] | None = None
        for params in combinations:
            status, body = await both(client, "/requests", **params)
            assert status == 200, body
            assert len(body) == 1000, (params, len(body))
            validate("requests", body)
            times = [r["requested_datetime"] for r in body]
            assert times == sorted(times, reverse=True)
            ids = [r["service_request_id"] for r in body]
            assert newest is None or ids == newest
            newest = ids
        assert len(set(made) - set(newest or [])) == 1
        assert await _ids(client, status="closed") == []
        assert len(await _ids(client, service_request_id=",".join(made[:1000]))) == 1000
        too_many = await client.get(
            f"{BASE}/requests.json", params={"service_request_id": ",".join(made)}
        )
        assert_errors(too_many, "json", 400, "1000")


async def test_reads_are_rate_limited_per_address(app_factory: AppFactory) -> None:
    async with app_factory(open311_reads_per_address_per_minute=2) as (_, client):
        for _ in range(2):
            assert (await client.get(f"{BASE}/requests.json")).status_code == 200
        answer = await client.get(f"{BASE}/requests.xml")
        assert_errors(answer, "xml", 429)
        assert int(answer.headers["retry-after"]) > 0
