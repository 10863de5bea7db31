"""Subscriptions: the `webhooks` scope, a client's own only, a secret shown once, limits."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from app.webhooks.models import WebhookSubscription
from tests.auth.factories import client_headers, new_account, new_admin, new_api_client
from tests.conftest import AppFactory
from tests.test_problems import assert_problem
from tests.webhooks.factories import (
    Clock,
    Subscriber,
    channels,
    subscribe,
    subscription,
    webhook_client,
)

URL = "http://127.0.0.1:9/hook"
ALLOWED = {"webhook_allowed_hosts": "127.0.0.1:9"}


async def test_a_client_manages_its_own_subscriptions_only(app_factory: AppFactory) -> None:
    async with app_factory(**ALLOWED) as (app, client):
        mine = await webhook_client(app, client)
        other = await webhook_client(app, client)
        made = await subscribe(
            client,
            mine,
            URL,
            ["incident.verified", "alert.issued", "alert.issued"],
            description="Borough dashboard",
        )
        assert made["secret"].startswith("whsec_")
        assert made["events"] == ["alert.issued", "incident.verified"]  # once each, in order
        assert made["enabled"] is True
        shown = await subscription(client, mine, made["id"])
        assert "secret" not in shown  # shown once, at creation
        listed = await client.get("/v1/webhooks", headers=mine.headers)
        assert [s["id"] for s in listed.json()["items"]] == [made["id"]]
        assert (await client.get("/v1/webhooks", headers=other.headers)).json()["items"] == []
        path = f"/v1/webhooks/{made['id']}"
        for method, url, body in (
            ("GET", path, None),
            ("PATCH", path, {"description": "theirs now"}),
            ("DELETE", path, None),
            ("POST", f"{path}/rotate", {}),
            ("POST", f"{path}/test", None),
            ("GET", f"{path}/deliveries", None),
        ):
            answer = await client.request(method, url, headers=other.headers, json=body)
            assert_problem(answer, 404)
        changed = await client.patch(
            path, headers=mine.headers, json={"events": ["alert.cancelled"], "description": None}
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["events"] == ["alert.cancelled"]
        assert changed.json()["description"] is None
        deleted = await client.delete(path, headers=mine.headers)
        assert deleted.status_code == 204
        assert_problem(await client.get(path, headers=mine.headers), 404)


async def test_the_webhooks_scope_is_required(app: FastAPI, client: httpx.AsyncClient) -> None:
    resident = await new_account(client)
    admin = await new_admin(app, client)
    reader = await new_api_client(client, admin, scopes=("alerts:read",))
    for headers in (resident.headers, admin.headers, await client_headers(client, reader)):
        answer = await client.get("/v1/webhooks", headers=headers)
        body = assert_problem(answer, 403)
        assert body.get("scope") == "webhooks" or "scope" in str(body["detail"])
    assert_problem(await client.get("/v1/webhooks"), 401)
    # A client holding the scope, with a token asked without it, is refused too.
    both = await new_api_client(client, admin, scopes=("alerts:read", "webhooks"))
    narrow = await client_headers(client, both, scope="alerts:read")
    assert_problem(await client.get("/v1/webhooks", headers=narrow), 403)


async def test_subscriptions_per_client_are_capped(app_factory: AppFactory) -> None:
    async with app_factory(**ALLOWED, webhooks_per_client=3) as (app, client):
        subscriber = await webhook_client(app, client)
        for _ in range(3):
            await subscribe(client, subscriber, URL)
        answer = await client.post(
            "/v1/webhooks",
            headers=subscriber.headers,
            json={"url": URL, "events": ["alert.issued"]},
        )
        assert str(assert_problem(answer, 409)["type"]).endswith("too-many-webhooks")


async def test_creation_and_pings_are_rate_limited_per_client(app_factory: AppFactory) -> None:
    async with app_factory(
        **ALLOWED, webhook_creations_per_client_per_hour=2, webhook_sends_per_client_per_hour=2
    ) as (app, client):
        subscriber = await webhook_client(app, client)
        other = await webhook_client(app, client)
        made = [await subscribe(client, subscriber, URL) for _ in range(2)]
        answer = await client.post(
            "/v1/webhooks",
            headers=subscriber.headers,
            json={"url": URL, "events": ["alert.issued"]},
        )
        assert_problem(answer, 429)
        assert int(answer.headers["retry-after"]) > 0
        await subscribe(client, other, URL)  # another client's budget is its own
        ping = f"/v1/webhooks/{made[0]['id']}/test"
        for _ in range(2):
            assert (await client.post(ping, headers=subscriber.headers)).status_code == 202
        assert_problem(await client.post(ping, headers=subscriber.headers), 429)


async def test_revoking_the_client_disables_its_subscriptions(app_factory: AppFactory) -> None:
    async with app_factory(**ALLOWED) as (app, client):
        admin = await new_admin(app, client)
        credentials = await new_api_client(client, admin, scopes=("webhooks",))
        subscriber = Subscriber(credentials, await client_headers(client, credentials))
        made = await subscribe(client, subscriber, URL)
        revoked = await client.delete(f"/v1/admin/clients/{credentials.id}", headers=admin.headers)
        assert revoked.status_code == 204
        async with channels(app, Clock(), "127.0.0.1:9") as run:
            await run.expand()  # the revocation comes through the outbox
        async with app.state.sessionmaker() as session:
            sub = await session.get(WebhookSubscription, uuid.UUID(made["id"]))
            assert sub is not None
            assert sub.enabled is False
            assert sub.disabled_reason == "The API client was revoked."
