"""The dispatcher: each active device of each recipient gets one push, once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlmodel import col

from app.devices.models import Device
from app.outbox.models import OutboxEvent
from app.push.dispatcher import Dispatcher
from app.push.models import Delivery
from app.push.senders import Outcome, SendResult
from app.realtime.models import LoggedEvent
from tests.alerts.factories import LONDON, SURREY, issue, new_agency, watch
from tests.auth.factories import new_account
from tests.groups.factories import join, new_group, set_member
from tests.incidents.factories import report
from tests.push.factories import RecordingSender, device, drain


async def test_alert_fan_out_respects_devices_and_preferences(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    loud, quiet, muted, away = [await new_account(client) for _ in range(4)]
    for who in (loud, quiet, muted):
        await watch(client, who, LONDON)
    await watch(client, away, SURREY)
    now = datetime.now(UTC)
    start, end = (
        (now - timedelta(hours=1)).strftime("%H:%M"),
        (now + timedelta(hours=1)).strftime("%H:%M"),
    )
    await client.put(
        "/v1/me/preferences",
        headers=quiet.headers,
        json={"quiet_hours": {"start": start, "end": end, "timezone": "UTC"}},
    )
    await client.put(
        "/v1/me/preferences", headers=muted.headers, json={"muted_categories": ["burglary"]}
    )
    tokens = {}
    for who, name in ((loud, "loud"), (quiet, "quiet"), (muted, "muted"), (away, "away")):
        for n in (1, 2):
            tokens[f"{name}-{n}"] = await device(client, who, f"token-{name}-{n}-" + "x" * 20)
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text("UPDATE devices SET active = false WHERE fcm_token LIKE 'token-loud-2-%'")
        )
    alert = (await issue(client, officer)).json()
    sender = RecordingSender()
    dispatcher = Dispatcher(app.state.sessionmaker, sender)
    await drain(dispatcher)
    got = Counter((m.token.split("-")[1], m.silent) for m in sender.sent)
    assert got == {("loud", False): 1, ("quiet", True): 2}
    assert all(m.content["data"]["alert_id"] == alert["id"] for m in sender.sent)
    await drain(dispatcher)  # nothing twice
    assert len(sender.sent) == 3
    stats = (await client.get(f"/v1/alerts/{alert['id']}/stats", headers=officer.headers)).json()
    assert stats["push"] == {"sent": "<10", "failed": "<10", "pending": "<10"}  # rounded


async def test_re_expanding_an_event_inserts_nothing_twice(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    resident = await new_account(client)
    await watch(client, resident, LONDON)
    await device(client, resident, "token-once-" + "y" * 20)
    await issue(client, officer)
    sender = RecordingSender()
    dispatcher = Dispatcher(app.state.sessionmaker, sender)
    await drain(dispatcher)
    # As if a worker died after expanding but the event came round again.
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE outbox SET state = 'pending', lease_until = NULL"))
    await drain(dispatcher)
    async with app.state.sessionmaker() as session:
        count = len((await session.execute(select(Delivery))).scalars().all())
    assert count == 1
    assert len(sender.sent) == 1


async def test_dead_tokens_are_deactivated_and_retries_wait(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    resident = await new_account(client)
    await watch(client, resident, LONDON)
    dead = "token-dead-" + "z" * 20
    busy = "token-busy-" + "z" * 20
    await device(client, resident, dead)
    await device(client, resident, busy)
    sender = RecordingSender(
        {
            dead: SendResult(Outcome.invalid_token, "UNREGISTERED"),
            busy: SendResult(Outcome.retry, "QUOTA_EXCEEDED", retry_after_s=600),
        }
    )
    dispatcher = Dispatcher(app.state.sessionmaker, sender)
    await issue(client, officer)
    await drain(dispatcher)
    assert sorted(m.token for m in sender.sent) == sorted([dead, busy])
    async with app.state.sessionmaker() as session:
        devices = {d.fcm_token: d.active for d in (await session.execute(select(Device))).scalars()}
        deliveries = (await session.execute(select(Delivery))).scalars().all()
    assert devices == {dead: False, busy: True}
    waiting = next(d for d in deliveries if d.state == "pending")
    assert waiting.next_attempt_at > datetime.now(UTC) + timedelta(seconds=500)
    # The dead device is never sent to again; the busy one is not due yet.
    await issue(client, officer)
    sender.sent.clear()
    await drain(dispatcher)
    assert [m.token for m in sender.sent] == [busy]


async def test_membership_events_reach_coordinators_and_the_requester(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner, coordinator, member, applicant = [await new_account(client) for _ in range(4)]
    group = await new_group(client, owner, join_policy="request")
    for who in (coordinator, member):
        await client.post(f"/v1/groups/{group['id']}/join", headers=who.headers, json={})
        await set_member(client, owner, group["id"], who, status="active")
    await set_member(client, owner, group["id"], coordinator, role="coordinator")
    for who, name in (
        (owner, "owner"),
        (coordinator, "coord"),
        (member, "member"),
        (applicant, "applicant"),
    ):
        await device(client, who, f"token-{name}-" + "m" * 20)
    sender = RecordingSender()
    dispatcher = Dispatcher(app.state.sessionmaker, sender)
    await drain(dispatcher)  # the two earlier approvals
    sender.sent.clear()
    await join(client, applicant, group["id"])
    await drain(dispatcher)
    assert sorted(m.token.split("-")[1] for m in sender.sent) == ["coord", "owner"]
    sender.sent.clear()
    await set_member(client, coordinator, group["id"], applicant, status="active")
    await drain(dispatcher)
    assert [m.token.split("-")[1] for m in sender.sent] == ["applicant"]


async def test_two_dispatchers_never_push_a_device_twice(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    for n in range(12):
        resident = await new_account(client)
        await watch(client, resident, LONDON)
        await device(client, resident, f"token-race-{n:02d}-" + "r" * 20)
    await issue(client, officer)
    sender = RecordingSender(delay=0.05)
    first = Dispatcher(app.state.sessionmaker, sender, batch=5)
    second = Dispatcher(app.state.sessionmaker, sender, batch=5)
    await asyncio.gather(drain(first), drain(second), drain(first), drain(second))
    counts = Counter(m.token for m in sender.sent)
    assert len(counts) == 12
    assert set(counts.values()) == {1}


async def test_reports_inside_and_outside_groups_in_one_pass(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner, member, reporter = [await new_account(client) for _ in range(3)]
    group = await new_group(client, owner, join_policy="open")
    assert (await join(client, member, group["id"])).status_code in (200, 201)
    paris = (2.3522, 48.8566)
    outside = [
        (await report(client, reporter, location={"type": "Point", "coordinates": paris})).json()
        for _ in range(3)
    ]
    inside = (await report(client, reporter)).json()
    await drain(Dispatcher(app.state.sessionmaker, RecordingSender()))
    async with app.state.sessionmaker() as session:
        events = {
            event.payload["incident_id"]: event
            for event in (await session.execute(select(OutboxEvent))).scalars()
            if event.event_type == "incident.created"
        }
        logged = set(
            (
                await session.execute(select(col(LoggedEvent.user_id), col(LoggedEvent.event_id)))
            ).all()
        )
    assert {e.state for e in events.values()} == {"done"}
    assert not any(events[i["id"]].realtime for i in outside)  # nobody to tell
    assert events[inside["id"]].realtime["id"] == inside["id"]
    # The members hear of the report in their area, and of nothing else.
    told = events[inside["id"]].id
    assert logged == {(owner.id, told), (member.id, told)}
