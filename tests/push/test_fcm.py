"""Push into the fake FCM (tests/fakes/fcm.py) through each FCM sender: ours
(app.push.fcm_http) and the real firebase-admin client (app.push.fcm)."""

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
from sqlmodel import col

from app.alerts.service import disclosed
from app.devices.models import Device
from app.push.dispatcher import Dispatcher
from app.push.models import Delivery
from app.push.senders import PushSender
from tests.alerts.factories import LONDON, SURREY, circle, issue, new_agency, watch
from tests.auth.factories import Account, new_account
from tests.conftest import AppFactory
from tests.fakes.fcm import CUT, FakeFCM
from tests.push.conftest import make_sender
from tests.push.factories import deliver_all, device, drain, pending, wait_for


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
    app: FastAPI, client: httpx.AsyncClient, fake_fcm: FakeFCM, fcm_sender: PushSender
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
    assert fake_fcm.token_requests >= 1  # the sender signed in at our token endpoint
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
    app: FastAPI, client: httpx.AsyncClient, fake_fcm: FakeFCM, fcm_sender: PushSender
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
    # Every request counts as an attempt (firebase-admin's own retries of a 503 too).
    assert sum(d.attempts for d in deliveries) >= len(deliveries)


async def test_dead_tokens_are_deactivated_and_payload_errors_keep_the_device(
    app: FastAPI,
    client: httpx.AsyncClient,
    fake_fcm: FakeFCM,
    fcm_sender: PushSender,
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
    fcm_sender: PushSender,
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
    app_factory: AppFactory, fake_fcm: FakeFCM, service_account: Path, sender_name: str
) -> None:
    """NW_FIREBASE_CREDENTIALS, NW_FCM_ENDPOINT and NW_PUSH_SENDER select the FCM
    sender, and the in-process dispatcher pushes without anyone driving it."""
    async with app_factory(
        firebase_credentials=service_account,
        fcm_endpoint=fake_fcm.url,
        push_sender=sender_name,
        dispatcher_in_process=True,
    ) as (app, client):
        officer = await new_agency(app, client)
        tokens = await residents(client, 3, 1, "wired")
        await issue(client, officer)
        give_up = datetime.now(UTC) + timedelta(seconds=30)
        while len(fake_fcm.accepted) < len(tokens) and datetime.now(UTC) < give_up:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert fake_fcm.tokens() == Counter(dict.fromkeys(tokens, 1))
    # The sender named is the one that pushed.
    client_library = "aiohttp" if sender_name == "fcm" else "httpx"
    assert client_library in fake_fcm.last_headers["user-agent"]


async def test_connections_cut_mid_request_are_retried_and_delivered_once(
    app: FastAPI, client: httpx.AsyncClient, fake_fcm: FakeFCM, fcm_sender: PushSender
) -> None:
    officer = await new_agency(app, client)
    tokens = await residents(client, 10, 2, "cut")
    fake_fcm.drop_next = 5  # FCM got these requests, and never answered them
    await issue(client, officer)
    await deliver_all(Dispatcher(app.state.sessionmaker, fcm_sender))

    assert fake_fcm.answers[CUT] == 5
    assert fake_fcm.tokens() == Counter(dict.fromkeys(tokens, 1))
    async with app.state.sessionmaker() as session:
        deliveries = (await session.scalars(select(Delivery))).all()
    assert {d.state for d in deliveries} == {"sent"}
    # A cut was counted as an attempt, and its delivery tried again.
    assert Counter(d.attempts for d in deliveries) == {1: len(tokens) - 5, 2: 5}


NEARBY = (-0.05, 51.5072)  # 5 km east of LONDON: another alert's area


async def test_a_hanging_alert_does_not_hold_back_the_next(
    app: FastAPI, client: httpx.AsyncClient, fake_fcm: FakeFCM, fcm_sender: PushSender
) -> None:
    """FCM hangs on one alert's five requests: they hold five of the sender's twenty
    slots, and another alert's pushes go out through the rest meanwhile."""
    officer = await new_agency(app, client)
    first = await residents(client, 5, 1, "first")
    second = await residents(client, 10, 1, "second", where=NEARBY)
    fake_fcm.hold_tokens = set(first)
    dispatcher = Dispatcher(app.state.sessionmaker, fcm_sender)
    await issue(client, officer)
    hanging = asyncio.create_task(dispatcher.run_once())

    async def first_hangs() -> bool:
        return fake_fcm.held == len(first)

    await wait_for(first_hangs, "the first alert's sends to hang")
    await issue(client, officer, title="Second alert", area=circle(NEARBY, 1_000))
    await drain(dispatcher)  # the first alert's deliveries are claimed by `hanging`
    assert fake_fcm.tokens() == Counter(dict.fromkeys(second, 1))
    assert not hanging.done()

    fake_fcm.release_held(drop=False)
    await hanging
    assert fake_fcm.tokens() == Counter(dict.fromkeys([*first, *second], 1))


async def test_sends_hanging_past_the_timeout_are_retried(
    app: FastAPI,
    client: httpx.AsyncClient,
    fake_fcm: FakeFCM,
    service_account: Path,
    sender_name: str,
) -> None:
    """Even when hanging requests fill every slot, the per-request timeout gives them up
    (for a later retry) and frees the slots for the other pushes."""
    officer = await new_agency(app, client)
    stuck = await residents(client, 2, 1, "stuck")
    others = await residents(client, 6, 1, "others")
    fake_fcm.hold_tokens = set(stuck)
    sender = make_sender(sender_name, service_account, fake_fcm.url, concurrency=2, timeout_s=0.5)
    try:
        dispatcher = Dispatcher(app.state.sessionmaker, sender)
        await issue(client, officer)
        await drain(dispatcher)
        assert fake_fcm.tokens() == Counter(dict.fromkeys(others, 1))
        async with app.state.sessionmaker() as session:
            waiting = (
                await session.scalars(select(Delivery).where(col(Delivery.state) == "pending"))
            ).all()
        assert len(waiting) == len(stuck)  # given up on for now, not lost
        assert all(d.attempts >= 1 for d in waiting)

        fake_fcm.release_held(drop=True)  # the hung requests' clients are long gone
        async with app.state.sessionmaker() as session, session.begin():
            await session.execute(text("UPDATE deliveries SET next_attempt_at = created_at"))
        await deliver_all(dispatcher)
    finally:
        await sender.close()
    assert fake_fcm.tokens() == Counter(dict.fromkeys([*stuck, *others], 1))
