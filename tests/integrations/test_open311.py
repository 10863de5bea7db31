"""Open311 GeoReport v2 as a client drives it: discovery, services, filing requests with
an api_key, in both formats; errors as the specification has them; contact details kept
for officers only, and gone with retention or an admin's erasure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app import retention
from app.categories import Category
from tests.alerts.factories import new_agency
from tests.auth.factories import new_account, new_admin, new_api_client
from tests.conftest import AppFactory
from tests.groups.factories import join, new_group, verify
from tests.incidents.factories import SPOT
from tests.integrations.open311 import (
    BASE,
    CONTACT,
    FORMATS,
    assert_errors,
    both,
    parsed,
    post_request,
    validate,
    validate_documented,
    writer,
)


async def test_discovery_and_services_are_served_in_both_formats(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    status, discovery = await both(client, "/discovery")
    assert status == 200
    validate_documented(app, f"{BASE}/discovery.json", "get", 200, discovery)
    [endpoint] = discovery["endpoints"]
    assert endpoint["url"].endswith("/open311/v2")
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}

    status, services = await both(client, "/services")
    assert status == 200
    validate("services", services)
    assert [s["service_code"] for s in services] == [c.value for c in Category]
    assert {s["type"] for s in services} == {"realtime"}
    assert all(s["service_name"] and s["keywords"] and s["group"] for s in services)

    for service in services:
        status, definition = await both(client, f"/services/{service['service_code']}")
        assert status == 200
        validate("service-definition", definition)
        assert service["metadata"] is bool(definition["attributes"])
        assert [a["code"] for a in definition["attributes"]] == ["occurred_at"]
        assert definition["attributes"][0]["datatype"] == "datetime"


@pytest.mark.parametrize("fmt", FORMATS)
async def test_an_unknown_service_or_path_is_a_404(client: httpx.AsyncClient, fmt: str) -> None:
    answer = await client.get(f"{BASE}/services/parking.{fmt}")
    assert_errors(answer, fmt, 404, "service_code")
    answer = await client.get(f"{BASE}/requests/{'0' * 8}.{fmt}")
    assert_errors(answer, fmt, 404, "service_request_id")


@pytest.mark.parametrize("fmt", FORMATS)
async def test_the_jurisdiction_id_is_ours_or_a_404(
    app_factory: AppFactory, client: httpx.AsyncClient, fmt: str
) -> None:
    for given in ("neighbourwatch", "", "  "):  # empty: as if absent
        answer = await client.get(f"{BASE}/services.{fmt}", params={"jurisdiction_id": given})
        assert answer.status_code == 200, (given, answer.text)
    for path in ("/services", "/discovery", "/services/burglary", "/requests"):
        answer = await client.get(f"{BASE}{path}.{fmt}", params={"jurisdiction_id": "gotham"})
        assert_errors(answer, fmt, 404, "jurisdiction_id")
    async with app_factory(open311_jurisdiction_required=True) as (_, strict):
        answer = await strict.get(f"{BASE}/services.{fmt}", params={"jurisdiction_id": ""})
        assert_errors(answer, fmt, 400, "jurisdiction_id", "required")
        answer = await strict.get(
            f"{BASE}/services.{fmt}", params={"jurisdiction_id": "neighbourwatch"}
        )
        assert answer.status_code == 200


@pytest.mark.parametrize("fmt", FORMATS)
async def test_filing_needs_the_secret_of_a_client_with_incidents_write(
    app: FastAPI, client: httpx.AsyncClient, fmt: str
) -> None:
    admin = await new_admin(app, client)
    reader = await new_api_client(client, admin, scopes=("alerts:read", "incidents:read"))
    filer = await new_api_client(client, admin, scopes=("incidents:write",))
    assert_errors(await post_request(client, None, fmt), fmt, 403, "api_key")
    assert_errors(await post_request(client, "", fmt), fmt, 403, "api_key")
    assert_errors(await post_request(client, "nwcs_guess", fmt), fmt, 403, "api_key")
    assert_errors(await post_request(client, filer.id, fmt), fmt, 403)  # the id is no secret
    assert_errors(await post_request(client, reader.secret, fmt), fmt, 403, "incidents:write")
    assert (await post_request(client, filer.secret, fmt)).status_code == 200

    rotated = await client.post(
        f"/v1/admin/clients/{filer.id}/rotate",
        headers=admin.headers,
        json={"grace_period_s": 3600},
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["client_secret"]
    assert (await post_request(client, filer.secret, fmt)).status_code == 200  # in its grace
    assert (await post_request(client, new_secret, fmt)).status_code == 200
    revoked = await client.delete(f"/v1/admin/clients/{filer.id}", headers=admin.headers)
    assert revoked.status_code == 204
    assert_errors(await post_request(client, new_secret, fmt), fmt, 403, "api_key")


async def test_wrong_api_keys_count_as_failed_sign_ins(app_factory: AppFactory) -> None:
    async with app_factory(login_failures_per_address=3) as (_, client):
        for _ in range(3):
            assert_errors(await post_request(client, "nwcs_guess"), "json", 403)
        answer = await post_request(client, "nwcs_guess", "xml")
        assert_errors(answer, "xml", 429)
        assert int(answer.headers["retry-after"]) > 0


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_filed_request_is_an_anonymous_report_shown_snapped_without_contact(
    app: FastAPI, client: httpx.AsyncClient, fmt: str
) -> None:
    filer = await writer(app, client)
    owner = await new_account(client)
    group = await new_group(client, owner)
    member = await new_account(client)
    assert (await join(client, member, group["id"])).status_code == 201

    answer = await post_request(client, filer.secret, fmt)
    assert answer.status_code == 200, answer.text
    [created] = parsed(answer, fmt)
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    assert created["account_id"] is None
    assert created["service_notice"]
    if fmt == "json":
        validate_documented(app, f"{BASE}/requests.json", "post", 200, [created])
    request_id = created["service_request_id"]

    status, [shown] = await both(client, f"/requests/{request_id}")
    assert status == 200
    validate("requests", [shown])
    assert shown["service_request_id"] == request_id
    assert (shown["status"], shown["service_code"]) == ("open", "burglary")
    assert (shown["long"], shown["lat"]) != SPOT  # the snapped point
    seen = await client.get(f"/v1/incidents/{request_id}", headers=member.headers)
    assert seen.status_code == 200, seen.text
    assert seen.json()["location"]["coordinates"] == [shown["long"], shown["lat"]]
    assert seen.json()["reporter"] is None
    assert seen.json()["anonymous"] is True

    for answered in (answer, await client.get(f"{BASE}/requests/{request_id}.{fmt}")):
        for value in CONTACT.values():
            assert value.lower() not in answered.text.lower()


@pytest.mark.parametrize("fmt", FORMATS)
async def test_requests_are_checked_as_reports_are(
    app: FastAPI, client: httpx.AsyncClient, fmt: str
) -> None:
    key = (await writer(app, client)).secret
    refused: list[tuple[dict[str, Any], str]] = [
        ({"lat": None, "long": None, "address_string": "1 Elm Street"}, "geocode"),
        ({"lat": None, "long": None, "address_id": "A-991"}, "geocode"),
        ({"lat": None, "long": None}, "lat, long"),
        ({"long": None}, "long"),
        ({"lat": "north"}, "lat"),
        ({"lat": "nan"}, "lat"),
        ({"lat": "91"}, "lat"),
        ({"long": "-180.5"}, "long"),
        ({"service_code": None}, "service_code"),
        ({"service_code": "parking"}, "service_code"),
        ({"description": None}, "description"),
        ({"description": "x" * 4001}, "description"),
        ({"description": "bad\x00byte"}, "description"),
        ({"attribute[occurred_at]": "2026-11-23T21:40:00"}, "attribute[occurred_at]"),
        ({"attribute[occurred_at]": "yesterday"}, "attribute[occurred_at]"),
        ({"attribute[colour]": "red"}, "attribute[colour]"),
        ({"media_url": "javascript:alert(1)"}, "media_url"),
        ({"first_name": "\u202eecilop"}, "first_name"),
        ({"email": "x" * 400}, "email"),
    ]
    for fields, word in refused:
        assert_errors(await post_request(client, key, fmt, **fields), fmt, 400, word)
    future: dict[str, Any] = {
        "attribute[occurred_at]": (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    }
    assert_errors(
        await post_request(client, key, fmt, **future),
        fmt,
        400,
        "attribute[occurred_at]: is in the future",
    )
    # Empty optional fields are absent ones; the time it happened is taken when given.
    blank: dict[str, Any] = dict.fromkeys([*CONTACT, "media_url", "address_string"], "")
    assert (await post_request(client, key, fmt, **blank)).status_code == 200
    earlier = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    occurred: dict[str, Any] = {"attribute[occurred_at]": earlier}
    answer = await post_request(client, key, fmt, **occurred)
    assert answer.status_code == 200, answer.text


async def test_a_retry_with_the_same_idempotency_key_files_one_report(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    key = (await writer(app, client)).secret
    headers = {"Idempotency-Key": "fms-4711"}
    first = await post_request(client, key, "json", headers=headers)
    again = await post_request(client, key, "xml", headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert (
        parsed(first, "json")[0]["service_request_id"]
        == (parsed(again, "xml")[0]["service_request_id"])
    )
    other = await post_request(client, key, "json", headers=headers, description="Another one.")
    assert_errors(other, "json", 400, "Idempotency-Key")
    assert_errors(
        await post_request(client, key, "json", headers={"Idempotency-Key": "k" * 129}),
        "json",
        400,
        "idempotency-key",
    )


async def test_a_client_files_at_most_its_hourly_reports(app_factory: AppFactory) -> None:
    async with app_factory(incidents_per_client_per_hour=2) as (app, client):
        key = (await writer(app, client)).secret
        for _ in range(2):
            assert (await post_request(client, key)).status_code == 200
        answer = await post_request(client, key, "xml")
        assert_errors(answer, "xml", 429, "per API client")
        assert int(answer.headers["retry-after"]) > 0


async def _contact(client: httpx.AsyncClient, headers: dict[str, str], incident_id: str) -> int:
    answer = await client.get(f"/v1/incidents/{incident_id}/contact", headers=headers)
    if answer.status_code == 200:
        assert answer.json()["email"] == CONTACT["email"].lower()
        assert answer.json()["phone"] == CONTACT["phone"]
    return answer.status_code


async def test_only_officers_and_admins_see_the_contact(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    unverified_owner = await new_account(client)
    await new_group(client, unverified_owner)
    verified_owner = await new_account(client)
    verified = await new_group(client, verified_owner)
    await verify(app, client, verified["id"])
    member = await new_account(client)
    assert (await join(client, member, verified["id"])).status_code == 201
    officer = await new_agency(app, client)
    admin = await new_admin(app, client)
    filer = await writer(app, client)
    answer = await post_request(client, filer.secret)
    incident_id = answer.json()[0]["service_request_id"]

    assert await _contact(client, admin.headers, incident_id) == 200
    assert await _contact(client, officer.headers, incident_id) == 200
    # A verified group's coordinators moderate it, but see no anonymous reporter.
    moderated = await client.get(f"/v1/incidents/{incident_id}", headers=verified_owner.headers)
    assert moderated.json()["location_exact"] is True
    assert await _contact(client, verified_owner.headers, incident_id) == 403
    assert await _contact(client, unverified_owner.headers, incident_id) == 403
    assert await _contact(client, member.headers, incident_id) == 403
    outsider = await new_account(client)
    assert await _contact(client, outsider.headers, incident_id) == 404
    for viewer in (admin, officer, verified_owner, member):
        shown = await client.get(f"/v1/incidents/{incident_id}", headers=viewer.headers)
        for value in CONTACT.values():
            assert value.lower() not in shown.text.lower()
    # A report filed without contact fields has none to show.
    no_contact: dict[str, Any] = dict.fromkeys(CONTACT, "")
    bare = await post_request(client, filer.secret, **no_contact)
    assert await _contact(client, admin.headers, bare.json()[0]["service_request_id"]) == 404


async def test_the_contact_goes_with_retention_and_an_admins_erasure(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    key = (await writer(app, client)).secret
    first = (await post_request(client, key)).json()[0]["service_request_id"]
    second = (await post_request(client, key)).json()[0]["service_request_id"]
    other = (await post_request(client, key, email="bob@example.org", phone="1")).json()[0]

    resident = await new_account(client)
    body = {"email": CONTACT["email"].upper()}
    refused = await client.post(
        "/v1/admin/open311-contact-erasures", json=body, headers=resident.headers
    )
    assert refused.status_code == 403
    empty = await client.post("/v1/admin/open311-contact-erasures", json={}, headers=admin.headers)
    assert empty.status_code == 422
    erased = await client.post(
        "/v1/admin/open311-contact-erasures", json=body, headers=admin.headers
    )
    assert erased.status_code == 200, erased.text
    assert erased.json() == {"erased": 2}
    for incident_id in (first, second):
        assert await _contact(client, admin.headers, incident_id) == 404
        kept_report = await client.get(f"/v1/incidents/{incident_id}", headers=admin.headers)
        assert kept_report.status_code == 200  # the report stays, anonymous
    kept = other["service_request_id"]
    assert (
        await client.get(f"/v1/incidents/{kept}/contact", headers=admin.headers)
    ).status_code == 200

    policy = retention.Policy.of(app.state.settings)
    soon = datetime.now(UTC) + timedelta(days=app.state.settings.open311_contact_days - 1)
    assert (await retention.purge(app.state.sessionmaker, policy, now=soon)).open311_contacts == 0
    later = datetime.now(UTC) + timedelta(days=app.state.settings.open311_contact_days, hours=1)
    assert (await retention.purge(app.state.sessionmaker, policy, now=later)).open311_contacts == 1
    assert (
        await client.get(f"/v1/incidents/{kept}/contact", headers=admin.headers)
    ).status_code == 404
