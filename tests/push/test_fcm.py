"""Push through the real firebase-admin client into the fake FCM (tests/fakes/fcm.py)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from app.alerts.service import disclosed
from app.devices.models import Device
from app.push.dispatcher import Dispatcher
from app.push.fcm import FirebaseSender
from app.push.models import Delivery
from tests.alerts.factories import LONDON, SURREY, issue, new_agency, watch
from tests.auth.factories import Account, new_account
from tests.conftest import AppFactory
from tests.fakes.fcm import FakeFCM
from tests.push.factories import deliver_all, device, pending


async def quiet_now(client: httpx.AsyncClient, who: Account) -> None:
    now = datetime.now(UTC)
    hours = {
        "start": (now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=1)).strftime("%H:%M"),
        "timezone": "UTC",
    }
    answer = await client.put(
        "/v1/me/preferences", headers=who.headers, json={"quiet_hours": hours}
    )
    assert answer.status_code == 200, answer.text


async def residents(
    client: httpx.AsyncClient,
    count: int,
    devices_each: int,
    prefix: str,
    where: tuple[float, float] = LONDON,
) -> dict[str, Account]:
    """`count` residents watching `where`, each with phones on every platform."""
    tokens: dict[str, Account] = {}
    platforms = ("android", "ios", "web")
    for n in range(count):
        who = await new_account(client)
        await watch(client, who, where)
        for d in range(devices_each):
            token = f"{prefix}-{n:03d}-{d}-" + "t" * 24
            await device(client, who, token, platforms[d % 3])
            tokens[token] = who
    return tokens


async def test_each_active_device_gets_one_push_shaped_for_the_phone(
    app: FastAPI, client: httpx.AsyncClient, fake_fcm: FakeFCM, fcm_sender: FirebaseSender
) -> None:
    officer = await new_agency(app, client)
    loud = await residents(client, 6, 3, "loud")
    quiet = await residents(client, 4, 2, "quiet")
    await residents(client, 2, 1, "away", where=SURREY)
    for who in {who.id: who for who in quiet.values()}.values():
        await quiet_now(client, who)
    retired = next(iter(loud))
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text("UPDATE devices SET active = false WHERE fcm_token = :t"), {"t": retired}
        )
    alert = (await issue(client, officer, severity="severe")).json()
    await deliver_all(Dispatcher(app.state.sessionmaker, fcm_sender))

    assert fake_fcm.validated == 0  # no dry run: these reached "phones"
    assert fake_fcm.token_requests >= 1  # the SDK signed in at our token endpoint
    expected = (set(loud) - {retired}) | set(quiet)
    assert fake_fcm.tokens() == Counter(dict.fromkeys(expected, 1))
    sent = fake_fcm.by_token()
    for token, message in sent.items():
        silent = token.startswith("quiet")
        android, apns, webpush = message["android"], message["apns"], message["webpush"]
        aps = apns["payload"]["aps"]
        assert message["notification"]["title"] == "Shed break-ins on Elm Street"
        assert message["data"]["alert_id"] == alert["id"]
        assert message["data"]["type"] == "alert.issued"
        assert message["data"]["silent"] == ("1" if silent else "0")
        assert message["data"]["seq"].isdigit()  # where the app resumes its WebSocket
        assert android["priority"] == "high"
        assert android["collapse_key"] == alert["id"]
        assert 23 * 3600 < float(android["ttl"].rstrip("s")) <= 24 * 3600
        assert apns["headers"]["apns-collapse-id"] == alert["id"]
        if silent:
            assert android["notification"]["channel_id"] == "alerts_quiet"
            assert "sound" not in aps
            assert aps["interruption-level"] == "passive"
            assert apns["headers"]["apns-priority"] == "5"
            assert webpush["notification"]["silent"] is True
        else:
            assert android["notification"]["channel_id"] == "alerts_severe"
            assert aps["sound"] == "default"
            assert aps["interruption-level"] == "time-sensitive"
            assert apns["headers"]["apns-priority"] == "10"
            assert webpush["headers"]["Urgency"] == "high"
    stats = (await client.get(f"/v1/alerts/{alert['id']}/stats", headers=officer.headers)).json()
    assert stats["push"] == {"sent": disclosed(len(expected)), "failed": "<10", "pending": "<10"}


async def test_503s_and_a_429_burst_still_deliver_everything_once(
    app: FastAPI, client: httpx.AsyncClient, fake_fcm: FakeFCM, fcm_sender: FirebaseSender
) -> None:
    officer = await new_agency(app, client)
    tokens = await residents(client, 20, 2, "flaky")
    fake_fcm.unavailable_rate = 0.2
    fake_fcm.quota_burst = 3
    fake_fcm.retry_after_s = 2
    await issue(client, officer)
    await deliver_all(Dispatcher(app.state.sessionmaker, fcm_sender))

    assert fake_fcm.tokens() == Counter(dict.fromkeys(tokens, 1))
    assert fake_fcm.answers[503] > 0
    assert fake_fcm.answers[429] == 3
    # Retry-After: once FCM said "wait 2 s", the sender waited before sending again
    # (requests already on the wire may still land just after the 429).
    first_429 = min(t for t, _, status in fake_fcm.log if status == 429)
    early = [t for t, _, _ in fake_fcm.log if first_429 + 0.5 < t < first_429 + 1.9]
    assert early == []
    async with app.state.sessionmaker() as session:
        deliveries = (await session.execute(select(Delivery))).scalars().all()
    assert {d.state for d in deliveries} == {"sent"}
    # The SDK's own retries count as attempts: a 503 that finally failed costs five.
    assert sum(d.attempts for d in deliveries) >= len(deliveries)


async def test_dead_tokens_are_deactivated_and_payload_errors_keep_the_device(
    app: FastAPI,
    client: httpx.AsyncClient,
    fake_fcm: FakeFCM,
    fcm_sender: FirebaseSender,
    caplog: pytest.LogCaptureFixture,
) -> None:
    officer = await new_agency(app, client)
    resident = await new_account(client)
    await watch(client, resident, LONDON)
    gone, malformed, buggy, fine = (f"{name}-" + "d" * 30 for name in ("gone", "bad", "bug", "ok"))
    for token in (gone, malformed, buggy, fine):
        await device(client, resident, token)
    fake_fcm.unregistered = {gone}
    fake_fcm.invalid_tokens = {malformed}
    fake_fcm.bad_payload_for = {buggy}
    dispatcher = Dispatcher(app.state.sessionmaker, fcm_sender)
    with caplog.at_level(logging.ERROR, logger="app.push"):
        await issue(client, officer)
        await deliver_all(dispatcher)
    assert any("FCM refused a message as invalid" in r.getMessage() for r in caplog.records)
    async with app.state.sessionmaker() as session:
        active = {d.fcm_token: d.active for d in (await session.execute(select(Device))).scalars()}
        failed = {
            d.last_error
            for d in (await session.execute(select(Delivery))).scalars()
            if d.state == "failed"
        }
    assert active == {gone: False, malformed: False, buggy: True, fine: True}
    assert len(failed) == 3
    # A second alert is not sent to the dead tokens at all.
    fake_fcm.log.clear()
    await issue(client, officer, title="Second alert")
    await deliver_all(dispatcher)
    assert sorted(t for _, t, _ in fake_fcm.log) == sorted([buggy, fine])


async def test_third_party_auth_errors_are_retried_and_told_to_the_operator(
    app: FastAPI,
    client: httpx.AsyncClient,
    fake_fcm: FakeFCM,
    fcm_sender: FirebaseSender,
    caplog: pytest.LogCaptureFixture,
) -> None:
    officer = await new_agency(app, client)
    resident = await new_account(client)
    await watch(client, resident, LONDON)
    token = "apns-" + "a" * 30
    await device(client, resident, token, "ios")
    fake_fcm.third_party_auth_for = {token}
    dispatcher = Dispatcher(app.state.sessionmaker, fcm_sender)
    with caplog.at_level(logging.ERROR, logger="app.push"):
        await issue(client, officer)
        while await dispatcher.run_once():
            pass
    assert any("THIRD_PARTY_AUTH_ERROR" in r.getMessage() for r in caplog.records)
    assert await pending(app.state.sessionmaker) == 1  # kept for a later try
    # Fixed on the operator's side: the retry goes through.
    fake_fcm.third_party_auth_for = set()
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE deliveries SET next_attempt_at = created_at"))
    await deliver_all(dispatcher)
    assert fake_fcm.tokens() == {token: 1}


async def test_the_configured_app_pushes_through_fcm(
    app_factory: AppFactory, fake_fcm: FakeFCM, service_account: Path
) -> None:
    """NW_FIREBASE_CREDENTIALS and NW_FCM_ENDPOINT select the firebase adapter, and the
    in-process dispatcher pushes without anyone driving it."""
    async with app_factory(
        firebase_credentials=service_account,
        fcm_endpoint=fake_fcm.url,
        dispatcher_in_process=True,
    ) as (app, client):
        officer = await new_agency(app, client)
        tokens = await residents(client, 3, 1, "wired")
        await issue(client, officer)
        give_up = datetime.now(UTC) + timedelta(seconds=30)
        while len(fake_fcm.accepted) < len(tokens) and datetime.now(UTC) < give_up:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert fake_fcm.tokens() == Counter(dict.fromkeys(tokens, 1))
