"""Delivery: every event a client may read reaches its subscription once, signed as
Standard Webhooks specifies (checked with its own library) and shaped with the API's
privacy; retries, Retry-After, 410, disabling and redelivery, on a clock the test moves."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import aiohttp
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlmodel import col
from standardwebhooks import WebhookVerificationError

from app.webhooks.models import WebhookDelivery
from tests.alerts.factories import LONDON, SURREY, circle, issue, new_agency
from tests.auth.factories import new_account, new_admin
from tests.conftest import AppFactory
from tests.groups.factories import new_group
from tests.incidents.factories import SPOT, report
from tests.test_problems import assert_problem
from tests.webhooks.factories import (
    Answer,
    Channels,
    Clock,
    Receiver,
    Subscriber,
    channels,
    deliveries,
    receiver,
    subscribe,
    subscription,
    webhook_client,
)

ALL_EVENTS = [
    "alert.issued",
    "alert.updated",
    "alert.cancelled",
    "incident.created",
    "incident.status_changed",
    "incident.verified",
]
SURREY_SPOT = (-0.3495, 51.2503)


async def _issued(client: httpx.AsyncClient, issuer: Any, **fields: Any) -> str:
    answer = await issue(client, issuer, **fields)
    assert answer.status_code == 201, answer.text
    alert_id: str = answer.json()["id"]
    return alert_id


async def test_every_event_reaches_its_subscriber_once_signed_and_as_the_api_shows_it(
    app_factory: AppFactory,
) -> None:
    async with receiver() as box, app_factory(webhook_allowed_hosts=box.allowed) as (app, client):
        officer = await new_agency(app, client)  # 20 km around London: moderates SPOT
        subscriber = await webhook_client(app, client, jurisdiction=circle(LONDON, 5_000))
        made = await subscribe(client, subscriber, box.url(), ALL_EVENTS)
        resident = await new_account(client, display_name="Named Resident")

        first = await _issued(client, officer)
        updated = await client.post(
            f"/v1/alerts/{first}/update", headers=officer.headers, json={"title": "Now two sheds"}
        )
        assert updated.status_code == 201, updated.text
        cancelled = await client.post(
            f"/v1/alerts/{updated.json()['id']}/cancel", headers=officer.headers, json={}
        )
        assert cancelled.status_code == 201, cancelled.text
        # A named report: a member would see the name; a webhook shows no reporter at all.
        incident = (await report(client, resident, anonymous=False)).json()
        verified = await client.post(
            f"/v1/incidents/{incident['id']}/transitions",
            headers=officer.headers,
            json={"status": "verified"},
        )
        assert verified.status_code == 200, verified.text
        # Outside the client's reach: never sent.
        admin = await new_admin(app, client)
        await _issued(client, admin, area=circle(SURREY, 500))
        await _issued(client, officer, status="test")
        far = await report(
            client, resident, location={"type": "Point", "coordinates": list(SURREY_SPOT)}
        )
        assert far.status_code == 201, far.text

        async with channels(app, Clock(), box.allowed) as run:
            await run.deliver()
            await run.deliver()  # nothing twice
        payloads = [r.verified(made["secret"]) for r in box.received]
        assert Counter(p["type"] for p in payloads) == dict.fromkeys(ALL_EVENTS, 1)
        ids = [r.headers["webhook-id"] for r in box.received]
        assert len(set(ids)) == len(ids)
        by_type = {p["type"]: p for p in payloads}
        assert by_type["alert.issued"]["data"]["id"] == first
        assert by_type["alert.updated"]["data"]["id"] == updated.json()["id"]
        assert by_type["alert.cancelled"]["data"]["id"] == cancelled.json()["id"]
        for kind in ("incident.created", "incident.status_changed", "incident.verified"):
            data = by_type[kind]["data"]
            assert data["id"] == incident["id"]
            assert data["reporter"] is None
            assert data["location_exact"] is False
            assert data["accuracy_m"] is None
            assert data["location"]["coordinates"] != list(SPOT)  # the snapped point
        assert by_type["incident.verified"]["data"]["status"] == "verified"
        # The same snapped point the API shows a member of a group there.
        shown = await client.get(f"/v1/incidents/{incident['id']}", headers=resident.headers)
        assert shown.status_code == 200
        assert (
            by_type["incident.created"]["data"]["location"]["coordinates"]
            != (
                shown.json()["location"]["coordinates"]  # the reporter sees the exact point
            )
        )
        log = await deliveries(client, subscriber, made["id"])
        assert len(log) == 6
        assert all(d["state"] == "sent" and len(d["attempts"]) == 1 for d in log)
        assert {d["webhook_id"] for d in log} == set(ids)
        assert all(d["attempts"][0]["status"] == 200 for d in log)
        assert all(d["attempts"][0]["latency_ms"] is not None for d in log)


async def test_a_client_of_a_group_hears_of_its_alerts_and_nobody_else_does(
    app_factory: AppFactory,
) -> None:
    async with receiver() as box, app_factory(webhook_allowed_hosts=box.allowed) as (app, client):
        owner = await new_account(client)
        group = await new_group(client, owner)
        bot = await webhook_client(app, client, group_id=group["id"])
        borough = await webhook_client(app, client, jurisdiction=circle(LONDON, 5_000))
        mine = await subscribe(client, bot, box.url("/bot"))
        theirs = await subscribe(client, borough, box.url("/borough"))
        grouped = await _issued(client, owner, group_id=group["id"])
        async with channels(app, Clock(), box.allowed) as run:
            await run.deliver()
        assert [(r.path, r.verified(mine["secret"])["data"]["id"]) for r in box.received] == [
            ("/bot", grouped)
        ]
        assert theirs["id"] not in str([r.json for r in box.received])


async def _one_alert(
    app: FastAPI, client: httpx.AsyncClient, box: Receiver, **fields: Any
) -> tuple[Subscriber, dict[str, Any]]:
    officer = await new_agency(app, client)
    subscriber = await webhook_client(app, client)
    made = await subscribe(client, subscriber, box.url(), **fields)
    await _issued(client, officer)
    return subscriber, made


async def _retry(run: Channels, clock: Clock, app: FastAPI) -> None:
    """Forward to when the pending delivery is due, and one pass."""
    async with app.state.sessionmaker() as session:
        due: datetime | None = await session.scalar(
            select(col(WebhookDelivery.next_attempt_at)).where(
                col(WebhookDelivery.state) == "pending"
            )
        )
    assert due is not None, "nothing pending"
    clock.until(due)
    await run.send()


async def test_retries_through_500s_and_timeouts_with_one_webhook_id(
    app_factory: AppFactory,
) -> None:
    async with receiver() as box, app_factory(webhook_allowed_hosts=box.allowed) as (app, client):
        subscriber, made = await _one_alert(app, client, box)
        box.plan = [Answer(500), Answer(hang=True), Answer(503)]
        clock = Clock()
        quick = aiohttp.ClientTimeout(total=0.5, sock_read=0.5)
        async with channels(app, clock, box.allowed, timeout=quick) as run:
            await run.deliver()
            [log] = await deliveries(client, subscriber, made["id"])
            assert log["state"] == "pending"
            before = datetime.fromisoformat(log["next_attempt_at"])
            await run.send()  # not due yet: nothing sent
            assert len(box.received) == 1
            for _ in range(3):
                await _retry(run, clock, app)
        assert len(box.received) == 4
        assert len({r.headers["webhook-id"] for r in box.received}) == 1
        for r in box.received:
            assert r.verified(made["secret"])["type"] == "alert.issued"
        [log] = await deliveries(client, subscriber, made["id"])
        assert log["state"] == "sent"
        assert [a["status"] for a in log["attempts"]] == [500, None, 503, 200]
        assert log["attempts"][1]["error"] == "timed out"
        assert log["attempts"][0]["error"] == "HTTP 500"
        assert before > datetime.fromisoformat(log["attempts"][0]["attempted_at"])
        assert (await subscription(client, subscriber, made["id"]))["failing_since"] is None


async def test_retry_after_is_honoured(app_factory: AppFactory) -> None:
    async with receiver() as box, app_factory(webhook_allowed_hosts=box.allowed) as (app, client):
        subscriber, made = await _one_alert(app, client, box)
        box.plan = [Answer(429, {"Retry-After": "3600"})]
        clock = Clock()
        async with channels(app, clock, box.allowed) as run:
            await run.deliver()
            [log] = await deliveries(client, subscriber, made["id"])
            first = datetime.fromisoformat(log["attempts"][0]["attempted_at"])
            due = datetime.fromisoformat(log["next_attempt_at"])
            assert (due - first).total_seconds() >= 3600  # not the 5 s of the schedule
            clock.advance(1800)
            await run.send()
            assert len(box.received) == 1
            clock.until(due)
            await run.send()
        assert len(box.received) == 2
        [log] = await deliveries(client, subscriber, made["id"])
        assert log["state"] == "sent"


async def test_410_gone_unsubscribes(app_factory: AppFactory) -> None:
    async with receiver() as box, app_factory(webhook_allowed_hosts=box.allowed) as (app, client):
        officer = await new_agency(app, client)
        subscriber, made = await _one_alert(app, client, box)
        box.plan = [Answer(410)]
        async with channels(app, Clock(), box.allowed) as run:
            await run.deliver()
            await _issued(client, officer)
            await run.deliver()
        assert len(box.received) == 1
        shown = await subscription(client, subscriber, made["id"])
        assert shown["enabled"] is False
        assert "410" in shown["disabled_reason"]
        [log] = await deliveries(client, subscriber, made["id"])
        assert log["state"] == "failed"
        ping = await client.post(f"/v1/webhooks/{made['id']}/test", headers=subscriber.headers)
        assert_problem(ping, 409)


async def test_a_subscription_failing_for_a_day_is_disabled_with_a_reason(
    app_factory: AppFactory,
) -> None:
    async with receiver() as box, app_factory(webhook_allowed_hosts=box.allowed) as (app, client):
        subscriber, made = await _one_alert(app, client, box)
        box.plan = [Answer(500)] * 20
        clock = Clock()
        async with channels(app, clock, box.allowed) as run:
            await run.deliver()
            for _ in range(7):
                assert (await subscription(client, subscriber, made["id"]))["enabled"]
                await _retry(run, clock, app)
        assert len(box.received) == 8
        shown = await subscription(client, subscriber, made["id"])
        assert shown["enabled"] is False
        assert "for over a day" in shown["disabled_reason"]
        assert "HTTP 500" in shown["disabled_reason"]
        [log] = await deliveries(client, subscriber, made["id"])
        assert log["state"] == "failed"
        attempts = [datetime.fromisoformat(a["attempted_at"]) for a in log["attempts"]]
        assert (attempts[-1] - attempts[0]).total_seconds() >= 24 * 3600  # retried a day

        # Enabled again by the client, a redelivery goes out with the same webhook-id.
        enabled = await client.patch(
            f"/v1/webhooks/{made['id']}", headers=subscriber.headers, json={"enabled": True}
        )
        assert enabled.status_code == 200, enabled.text
        assert enabled.json()["disabled_reason"] is None
        box.plan = []
        again = await client.post(
            f"/v1/webhooks/{made['id']}/deliveries/{log['id']}/redeliver",
            headers=subscriber.headers,
        )
        assert again.status_code == 202, again.text
        assert again.json()["state"] == "pending"
        async with channels(app, clock, box.allowed) as run:
            await run.send()
        assert len(box.received) == 9
        assert box.received[-1].headers["webhook-id"] == box.received[0].headers["webhook-id"]
        box.received[-1].verified(made["secret"])
        [log] = await deliveries(client, subscriber, made["id"])
        assert log["state"] == "sent"
        assert len(log["attempts"]) == 9


async def test_redelivery_and_pings(app_factory: AppFactory) -> None:
    async with receiver() as box, app_factory(webhook_allowed_hosts=box.allowed) as (app, client):
        subscriber, made = await _one_alert(app, client, box)
        async with channels(app, Clock(), box.allowed) as run:
            await run.deliver()
            [log] = await deliveries(client, subscriber, made["id"])
            path = f"/v1/webhooks/{made['id']}/deliveries"
            again = await client.post(f"{path}/{log['id']}/redeliver", headers=subscriber.headers)
            assert again.status_code == 202, again.text
            unknown = await client.post(
                f"{path}/{made['id']}/redeliver", headers=subscriber.headers
            )
            assert_problem(unknown, 404)
            await run.send()
            ping = await client.post(f"/v1/webhooks/{made['id']}/test", headers=subscriber.headers)
            assert ping.status_code == 202, ping.text
            await run.send()
        first, second, third = (r.verified(made["secret"]) for r in box.received)
        assert first == second
        assert box.received[0].headers["webhook-id"] == box.received[1].headers["webhook-id"]
        assert third["type"] == "webhook.ping"
        assert third["data"] == {"subscription_id": made["id"]}
        logged = await deliveries(client, subscriber, made["id"])
        assert [d["event_type"] for d in logged] == ["webhook.ping", "alert.issued"]
        assert len(logged[1]["attempts"]) == 2


async def test_a_rotated_secret_signs_beside_the_new_one_for_its_grace_period(
    app_factory: AppFactory,
) -> None:
    async with receiver() as box, app_factory(webhook_allowed_hosts=box.allowed) as (app, client):
        subscriber = await webhook_client(app, client)
        made = await subscribe(client, subscriber, box.url())
        rotated = await client.post(
            f"/v1/webhooks/{made['id']}/rotate", headers=subscriber.headers, json={}
        )
        assert rotated.status_code == 200, rotated.text
        assert rotated.json()["secret"] != made["secret"]
        dropped = await client.post(
            f"/v1/webhooks/{made['id']}/rotate",
            headers=subscriber.headers,
            json={"grace_period_s": 0},
        )
        newest = dropped.json()["secret"]
        await client.post(f"/v1/webhooks/{made['id']}/test", headers=subscriber.headers)
        async with channels(app, Clock(), box.allowed) as run:
            await run.send()
        [ping] = box.received
        ping.verified(newest)
        for old in (made["secret"], rotated.json()["secret"]):
            with pytest.raises(WebhookVerificationError):
                ping.verified(old)
