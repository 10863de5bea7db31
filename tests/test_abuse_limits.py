"""Every path a person could abuse is limited (API.md "Trust and limits"): 429 problem
with Retry-After one past each limit, and nobody else is affected."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from tests.alerts.factories import issue, new_agency
from tests.auth.factories import PASSWORD, Account, new_account, signed_in
from tests.conftest import AppFactory
from tests.groups.factories import join, new_group
from tests.incidents.factories import report

SMALL_AREA = {"type": "Point", "coordinates": [-0.1276, 51.5072], "radius_m": 500}


def at(app: FastAPI, address: str) -> httpx.AsyncClient:
    """A client at another address than the default client's 127.0.0.1."""
    transport = httpx.ASGITransport(app=app, client=(address, 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def assert_limited(answer: httpx.Response, window_s: int) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(answer.headers["retry-after"]) <= window_s
    assert answer.json()["status"] == 429


async def register(client: httpx.AsyncClient) -> httpx.Response:
    email = f"r-{uuid.uuid4().hex[:10]}@example.org"
    body = {"email": email, "password": PASSWORD, "display_name": "Resident"}
    return await client.post("/v1/auth/register", json=body)


async def test_registrations_are_limited_per_address(app_factory: AppFactory) -> None:
    async with app_factory(registrations_per_address_per_hour=2) as (app, client):
        assert (await register(client)).status_code == 201
        assert (await register(client)).status_code == 201
        assert_limited(await register(client), 3600)
        async with at(app, "203.0.113.9") as elsewhere:
            assert (await register(elsewhere)).status_code == 201


async def test_reports_are_limited_per_address_as_well_as_per_user(
    app_factory: AppFactory,
) -> None:
    limits = {"incidents_per_hour": 3, "incidents_per_address_per_hour": 3}
    async with app_factory(**limits) as (app, client):
        first, fresh = await new_account(client), await new_account(client)
        for _ in range(3):
            assert (await report(client, first)).status_code == 201
        assert_limited(await report(client, first), 3600)
        # A fresh account filing at once from the same address is refused as well.
        assert_limited(await report(client, fresh), 3600)
        async with at(app, "203.0.113.9") as elsewhere:
            other = await new_account(elsewhere)
            assert (await report(elsewhere, other)).status_code == 201


async def create_group(client: httpx.AsyncClient, owner: Account) -> httpx.Response:
    body = {"name": "Elm Street Watch", "area": SMALL_AREA}
    return await client.post("/v1/groups", headers=owner.headers, json=body)


async def test_groups_created_are_limited_per_user(app_factory: AppFactory) -> None:
    async with app_factory(groups_per_user_per_day=2) as (_app, client):
        ann, bob = await new_account(client), await new_account(client)
        assert (await create_group(client, ann)).status_code == 201
        assert (await create_group(client, ann)).status_code == 201
        assert_limited(await create_group(client, ann), 86_400)
        assert (await create_group(client, bob)).status_code == 201


async def test_alerts_are_limited_per_issuer_and_agencies_get_more(
    app_factory: AppFactory,
) -> None:
    limits = {"alerts_per_issuer_per_hour": 2, "alerts_per_agency_per_hour": 4}
    async with app_factory(**limits) as (app, client):
        officer, colleague = await new_agency(app, client), await new_agency(app, client)
        for _ in range(4):
            assert (await issue(client, officer)).status_code == 201
        assert_limited(await issue(client, officer), 3600)
        assert (await issue(client, colleague)).status_code == 201
        # A resident's attempts count against the lower limit (refused or not).
        resident = await new_account(client)
        for _ in range(2):
            assert (await issue(client, resident)).status_code == 403
        assert_limited(await issue(client, resident), 3600)


async def add_update(
    client: httpx.AsyncClient, author: Account, incident_id: str
) -> httpx.Response:
    return await client.post(
        f"/v1/incidents/{incident_id}/updates", headers=author.headers, json={"text": "Seen again."}
    )


async def test_incident_updates_are_limited_per_user(app_factory: AppFactory) -> None:
    async with app_factory(incident_updates_per_user_per_hour=2) as (_app, client):
        ann, bob = await new_account(client), await new_account(client)
        mine = (await report(client, ann)).json()["id"]
        theirs = (await report(client, bob)).json()["id"]
        assert (await add_update(client, ann, mine)).status_code == 201
        assert (await add_update(client, ann, mine)).status_code == 201
        assert_limited(await add_update(client, ann, mine), 3600)
        assert (await add_update(client, bob, theirs)).status_code == 201


async def test_join_requests_are_limited_per_user_per_group(app_factory: AppFactory) -> None:
    async with app_factory(join_requests_per_group_per_day=2) as (_app, client):
        owner, bob, carol = [await new_account(client) for _ in range(3)]
        group = (await new_group(client, owner, area=SMALL_AREA))["id"]
        other_group = (await new_group(client, owner, area=SMALL_AREA))["id"]
        assert (await join(client, bob, group)).status_code == 201
        assert (await join(client, bob, group)).status_code == 200
        # However the id is spelt, it is the same group.
        assert_limited(await join(client, bob, group.upper()), 86_400)
        assert (await join(client, bob, other_group)).status_code == 201
        assert (await join(client, carol, group)).status_code == 201


async def register_device(client: httpx.AsyncClient, account: Account, n: int) -> dict[str, Any]:
    body = {"fcm_token": f"fcm-token-{n:03d}-" + "a" * 100, "platform": "android"}
    answer = await client.post("/v1/devices", headers=account.headers, json=body)
    assert answer.status_code == 201, answer.text
    device: dict[str, Any] = answer.json()
    return device


async def active_device_ids(client: httpx.AsyncClient, account: Account) -> set[str]:
    answer = await client.get("/v1/devices?limit=100", headers=account.headers)
    return {d["id"] for d in answer.json()["items"] if d["active"]}


async def test_a_21st_device_deactivates_the_oldest(client: httpx.AsyncClient) -> None:
    ann = await new_account(client)
    bob = await new_account(client)
    bobs = await register_device(client, bob, 999)
    devices = [await register_device(client, ann, n) for n in range(21)]
    active = await active_device_ids(client, ann)
    assert active == {d["id"] for d in devices[1:]}
    # Registering the oldest again revives it, and the next oldest gives way.
    body = {"fcm_token": "fcm-token-000-" + "a" * 100, "platform": "android"}
    assert (await client.post("/v1/devices", headers=ann.headers, json=body)).status_code == 200
    assert await active_device_ids(client, ann) == {d["id"] for d in [devices[0], *devices[2:]]}
    assert await active_device_ids(client, bob) == {bobs["id"]}


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    app_factory: AppFactory,
) -> None:
    limits = {"login_failures_per_address": 3, "trusted_proxies": ["10.0.0.0/8"]}
    async with app_factory(**limits) as (app, client):
        victim = await new_account(client)
        async with at(app, "203.0.113.9") as attacker:
            for n in range(3):
                spoof = {"X-Forwarded-For": f"198.51.100.{n}"}
                answer = await attacker.post(
                    "/v1/auth/token",
                    headers=spoof,
                    data={
                        "grant_type": "password",
                        "username": f"x{n}@example.org",
                        "password": "p",
                    },
                )
                assert answer.status_code == 400
            limited = await attacker.post(
                "/v1/auth/token",
                headers={"X-Forwarded-For": "198.51.100.200"},
                data={"grant_type": "password", "username": victim.email, "password": PASSWORD},
            )
            assert limited.status_code == 429


async def test_forwarded_for_from_a_trusted_proxy_is_honoured(app_factory: AppFactory) -> None:
    # The test client's peer, 127.0.0.1, plays the reverse proxy.
    limits = {"login_failures_per_address": 3, "trusted_proxies": ["127.0.0.0/8", "10.0.0.0/8"]}
    async with app_factory(**limits) as (_app, client):
        victim = await new_account(client)

        async def sign_in_via(chain: str, password: str) -> httpx.Response:
            return await client.post(
                "/v1/auth/token",
                headers={"X-Forwarded-For": chain},
                data={"grant_type": "password", "username": victim.email, "password": password},
            )

        for n in range(3):
            # Whatever the client wrote left of the real hop is not believed.
            chain = f"6.6.6.{n}, 198.51.100.1, 10.1.2.3"
            assert (await sign_in_via(chain, "wrong")).status_code == 400
        assert (await sign_in_via("198.51.100.1", PASSWORD)).status_code == 429
        # Another client behind the same proxy is not affected.
        assert (await sign_in_via("198.51.100.2, 10.1.2.3", PASSWORD)).status_code == 200
        await signed_in(client, victim.id, victim.email)  # the proxy itself, no header
