"""A webhook receiver that never answers holds back no push: the webhook channel has its
own loops and its own claims on its own table, beside the push dispatcher's."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from app.push.dispatcher import Dispatcher
from tests.alerts.factories import LONDON, issue, new_agency, watch
from tests.auth.factories import new_account
from tests.conftest import AppFactory
from tests.fakes.fcm import FakeFCM
from tests.push.conftest import make_sender
from tests.push.factories import device, wait_for
from tests.webhooks.factories import (
    Answer,
    Clock,
    channel_for,
    deliveries,
    receiver,
    subscribe,
    webhook_client,
)


@pytest.fixture
def fake_fcm() -> Iterator[FakeFCM]:
    with FakeFCM() as fake:
        yield fake


async def test_a_receiver_that_never_answers_delays_no_push(
    app_factory: AppFactory, fake_fcm: FakeFCM, tmp_path: Path
) -> None:
    async with receiver() as box, app_factory(webhook_allowed_hosts=box.allowed) as (app, client):
        box.plan = [Answer(hang=True)] * 10
        officer = await new_agency(app, client)
        resident = await new_account(client)
        await watch(client, resident, LONDON)
        token = "token-of-a-phone-" + "p" * 20
        await device(client, resident, token)
        subscriber = await webhook_client(app, client)
        made = await subscribe(client, subscriber, box.url())

        # Far longer than the test: the receiver's silence never ends in a timeout here.
        patient = aiohttp.ClientTimeout(total=600, sock_read=600)
        webhooks = channel_for(app, Clock(), box.allowed, timeout=patient)
        sender = make_sender("fcm", fake_fcm.service_account(tmp_path / "sa.json"), fake_fcm.url)
        dispatcher = Dispatcher(app.state.sessionmaker, sender, fanouts=[webhooks.fanout])
        stop = asyncio.Event()
        running = [
            asyncio.create_task(dispatcher.run(stop)),
            asyncio.create_task(webhooks.run(stop)),
        ]
        try:
            first = (await issue(client, officer)).json()

            async def webhook_in_flight() -> bool:
                return len(box.received) >= 1

            await wait_for(webhook_in_flight, "the first webhook to reach the receiver")
            second = (await issue(client, officer, title="And a second one")).json()

            async def both_pushed() -> bool:
                return len(fake_fcm.accepted) >= 2

            await wait_for(both_pushed, "both pushes")
            # Both pushes went out while the receiver still holds the first webhook: its
            # delivery has not even one finished attempt.
            log = await deliveries(client, subscriber, made["id"])
            assert [d["state"] for d in log] == ["pending", "pending"]
            assert all(d["attempts"] == [] for d in log)
            pushed = [m["data"]["alert_id"] for m in fake_fcm.accepted]
            assert sorted(pushed) == sorted([first["id"], second["id"]])

            async def both_webhooks_sent() -> bool:
                return len(box.received) >= 2

            # Nor does it hold the other webhook back.
            await wait_for(both_webhooks_sent, "the second webhook, beside the first")
        finally:
            stop.set()
            box.released.set()
            await asyncio.gather(*running)
            await webhooks.close()
            await sender.close()
