"""What an API client with `alerts:read` reads: public alerts touching its
jurisdiction (all of them without one), its group's alerts, never a test alert."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from app.alerts.cap import CAP_MEDIA_TYPE
from tests.alerts.factories import LONDON, SURREY, circle, issue, new_agency
from tests.auth.factories import (
    Account,
    ApiClientCredentials,
    client_headers,
    new_account,
    new_admin,
    new_api_client,
)
from tests.conftest import AppFactory
from tests.groups.factories import new_group


async def issued(client: httpx.AsyncClient, issuer: Account, **fields: Any) -> str:
    answer = await issue(client, issuer, **fields)
    assert answer.status_code == 201, answer.text
    alert_id: str = answer.json()["id"]
    return alert_id


async def listed(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> set[str]:
    answer = await client.get("/v1/alerts", headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    return {a["id"] for a in answer.json()["items"]}


async def readable(client: httpx.AsyncClient, headers: dict[str, str], *ids: str) -> list[int]:
    return [(await client.get(f"/v1/alerts/{i}", headers=headers)).status_code for i in ids]


async def test_a_client_reads_public_alerts_in_its_jurisdiction_and_its_groups(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    officer = await new_agency(app, client)
    owner = await new_account(client)
    group = await new_group(client, owner)

    near = await issued(client, admin, area=circle(LONDON, 1_000))
    far = await issued(client, admin, area=circle(SURREY, 500))
    test = await issued(client, admin, status="test")
    grouped = await issued(client, owner, group_id=group["id"])
    everything = (near, far, test, grouped)

    borough = await new_api_client(client, officer, jurisdiction=circle(LONDON, 5_000))
    national = await new_api_client(client, admin)
    bot = await new_api_client(client, admin, group_id=group["id"])

    headers = await client_headers(client, borough)
    assert await readable(client, headers, *everything) == [200, 404, 404, 404]
    assert await listed(client, headers) == {near}

    headers = await client_headers(client, national)
    assert await readable(client, headers, *everything) == [200, 200, 404, 404]
    assert await listed(client, headers) == {near, far}

    headers = await client_headers(client, bot)
    assert await readable(client, headers, *everything) == [200, 200, 404, 200]
    assert await listed(client, headers) == {near, far, grouped}
    assert await listed(client, headers, scope="issued") == set()  # a client issues none


async def test_a_client_reads_the_current_versions_and_cancelled_ones_when_asked(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    first = await issued(client, admin)
    cancelled = await client.post(f"/v1/alerts/{first}/cancel", headers=admin.headers, json={})
    assert cancelled.status_code == 201, cancelled.text
    headers = await client_headers(client, await new_api_client(client, admin))
    assert await listed(client, headers) == set()  # active (the default): none
    assert await listed(client, headers, active="false") == {cancelled.json()["id"]}
    assert await readable(client, headers, first) == [200]  # an old version, by id


async def test_a_client_reads_an_alert_as_json_without_why_or_as_cap(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    alert_id = await issued(client, admin)
    headers = await client_headers(client, await new_api_client(client, admin))
    answer = await client.get(f"/v1/alerts/{alert_id}", headers=headers)
    assert answer.json()["why"] is None
    cap = await client.get(f"/v1/alerts/{alert_id}", headers={**headers, "Accept": CAP_MEDIA_TYPE})
    assert cap.status_code == 200
    assert cap.headers["content-type"].startswith(CAP_MEDIA_TYPE)


async def test_a_client_without_alerts_read_is_403_naming_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    alert_id = await issued(client, admin)
    made = await new_api_client(client, admin, ("incidents:read", "alerts:write", "webhooks"))
    narrowed = ApiClientCredentials(made.id, made.secret, made.body)
    for headers in (
        await client_headers(client, made),
        await client_headers(client, narrowed, scope="webhooks"),
    ):
        for path in (f"/v1/alerts/{alert_id}", "/v1/alerts"):
            answer = await client.get(path, headers=headers)
            assert answer.status_code == 403, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["scope"] == "alerts:read"
            assert "alerts:read" in answer.json()["detail"]


async def test_a_client_acknowledges_nothing_even_with_alerts_write(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """alerts:write issues (tests/alerts/test_client_writes.py); acknowledging and the
    reach figures stay people's: a client token is still no user's there (401)."""
    admin = await new_admin(app, client)
    alert_id = await issued(client, admin)
    headers = await client_headers(client, await new_api_client(client, admin, ("alerts:write",)))
    assert (await issue(client, Account(admin.id, "", "", "", "", headers))).status_code == 201
    ack = await client.post(f"/v1/alerts/{alert_id}/ack", headers=headers, json={"kind": "seen"})
    assert ack.status_code == 401
    stats = await client.get(f"/v1/alerts/{alert_id}/stats", headers=headers)
    assert stats.status_code == 401


async def test_a_clients_requests_are_limited_per_minute(app_factory: AppFactory) -> None:
    async with app_factory(client_requests_per_minute=2) as (app, client):
        admin = await new_admin(app, client)
        first = await new_api_client(client, admin)
        headers = await client_headers(client, first)
        codes = [(await client.get("/v1/alerts", headers=headers)).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        limited = await client.get("/v1/alerts", headers=headers)
        assert limited.headers["content-type"] == "application/problem+json"
        assert int(limited.headers["retry-after"]) > 0
        # Per client: another one is not held back by the first's count.
        other = await client_headers(client, await new_api_client(client, admin))
        assert (await client.get("/v1/alerts", headers=other)).status_code == 200
