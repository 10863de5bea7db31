"""Webhook delivery logs go after NW_DELIVERY_LOG_DAYS, bodies once nothing is left to send
them, and a revoked client's subscriptions that long after its revocation."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import func, select

from app import retention
from app.db import TableModel, utcnow
from app.retention import Policy
from app.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookMessage,
    WebhookSubscription,
)
from tests.auth.factories import client_headers, new_admin, new_api_client
from tests.conftest import AppFactory
from tests.webhooks.factories import Answer, Clock, Subscriber, channels, receiver, subscribe


async def _count(app: FastAPI, model: type[TableModel]) -> int:
    async with app.state.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_finished_deliveries_and_revoked_clients_subscriptions_go(
    app_factory: AppFactory,
) -> None:
    async with receiver() as box, app_factory(webhook_allowed_hosts=box.allowed) as (app, client):
        admin = await new_admin(app, client)
        credentials = await new_api_client(client, admin, scopes=("webhooks",))
        subscriber = Subscriber(credentials, await client_headers(client, credentials))
        kept = await subscribe(client, subscriber, box.url("/kept"))
        box.plan = [Answer(200), Answer(500)]
        for _ in range(2):
            ping = await client.post(f"/v1/webhooks/{kept['id']}/test", headers=subscriber.headers)
            assert ping.status_code == 202
        async with channels(app, Clock(), box.allowed) as run:
            await run.send()
        assert await _count(app, WebhookAttempt) == 2
        policy = Policy.of(app.state.settings)
        later = utcnow() + policy.delivery_log + timedelta(hours=1)

        purged = await retention.purge(app.state.sessionmaker, policy, now=later)
        assert (purged.webhook_deliveries, purged.webhook_messages) == (1, 1)
        assert await _count(app, WebhookDelivery) == 1  # the pending retry stays
        assert await _count(app, WebhookMessage) == 1
        assert await _count(app, WebhookAttempt) == 1  # the sent one's went with it
        assert purged.webhook_subscriptions == 0

        revoked = await client.delete(f"/v1/admin/clients/{credentials.id}", headers=admin.headers)
        assert revoked.status_code == 204
        async with channels(app, Clock(), box.allowed) as run:
            await run.expand()  # the revocation disables the subscription (and its retry)
        soon = utcnow() + timedelta(days=1)
        purged = await retention.purge(app.state.sessionmaker, policy, now=soon)
        assert purged.webhook_subscriptions == 0  # revoked a day before
        purged = await retention.purge(app.state.sessionmaker, policy, now=later)
        assert purged.webhook_subscriptions == 1
        assert await _count(app, WebhookSubscription) == 0
        assert await _count(app, WebhookDelivery) == 0
