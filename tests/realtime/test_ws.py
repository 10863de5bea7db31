"""WS /v1/ws: authentication, isolation, resume without gap or duplicate, slow clients."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from app.auth.tokens import TokenService
from app.realtime import log as event_log
from app.realtime.models import LoggedEvent
from tests.alerts.factories import LONDON, SURREY, circle, issue, new_agency, watch
from tests.auth.factories import Account, new_account
from tests.conftest import AppFactory
from tests.groups.factories import new_group, verify
from tests.incidents.factories import report
from tests.realtime.client import Closed, WsClient


@pytest.fixture
async def live(app_factory: AppFactory) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app with its dispatcher running, as `make run` has it."""
    async with app_factory(
        dispatcher_in_process=True, ws_auth_timeout_s=0.5, ws_resume_window_s=0.2
    ) as both:
        yield both


async def read_until_closed(ws: WsClient) -> tuple[list[dict[str, Any]], int]:
    frames = []
    while True:
        try:
            frames.append(await ws.receive())
        except Closed as closed:
            return frames, closed.code


def token_of(account: Account) -> str:
    return account.headers["Authorization"].removeprefix("Bearer ")


async def officer_and_londoner(app: FastAPI, client: httpx.AsyncClient) -> tuple[Account, Account]:
    """An agency officer, and a resident who watches a place in London."""
    officer = await new_agency(app, client)
    resident = await new_account(client)
    await watch(client, resident, LONDON)
    return officer, resident


async def test_no_auth_message_in_time_is_4408_and_a_token_in_the_url_is_ignored(
    live: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = live
    resident = await new_account(client)
    async with WsClient(app, query=f"token={token_of(resident)}") as ws:
        with pytest.raises(Closed) as closed:
            await ws.receive()
    assert closed.value.code == 4408


@pytest.mark.parametrize(
    "first",
    [
        {"type": "auth", "token": "not-a-token"},
        {"type": "auth"},
        {"type": "resume", "since": 0},
        "not json",
    ],
    ids=["bad-token", "no-token", "not-auth", "not-json"],
)
async def test_a_bad_first_message_is_4401(
    live: tuple[FastAPI, httpx.AsyncClient], first: object
) -> None:
    app, _client = live
    async with WsClient(app) as ws:
        if isinstance(first, dict):
            await ws.send(first)
        else:
            await ws._to_app.put({"type": "websocket.receive", "text": first})
        with pytest.raises(Closed) as closed:
            await ws.receive()
    assert closed.value.code == 4401


async def test_an_expired_token_closes_4401_unless_a_fresh_one_came(
    live: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = live
    resident = await new_account(client)
    short = TokenService(app.state.settings.model_copy(update={"access_token_ttl_s": 2}))
    user_id = uuid.UUID(str(resident.id))
    async with WsClient(app) as kept, WsClient(app) as lapsed:
        await kept.auth(short.issue_access(user_id, "resident")[0])
        await lapsed.auth(short.issue_access(user_id, "resident")[0])
        await kept.auth(token_of(resident))  # a fresh token, good for 15 minutes
        with pytest.raises(Closed) as closed:
            await lapsed.receive(patience_s=10)
        assert closed.value.code == 4401
        assert await kept.nothing_more(1.0)  # still open after the first token ran out


async def test_each_resident_receives_only_their_own_events(
    live: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = live
    london_officer = await new_agency(app, client)
    surrey_officer = await new_agency(app, client, jurisdiction=circle(SURREY, 20_000))
    londoner, surreyite = await new_account(client), await new_account(client)
    await watch(client, londoner, LONDON)
    await watch(client, surreyite, SURREY)
    async with WsClient(app) as one, WsClient(app) as two:
        await one.auth(token_of(londoner))
        await two.auth(token_of(surreyite))
        await asyncio.sleep(0.3)  # past the resume window: both are live
        in_london = (await issue(client, london_officer, title="London")).json()
        in_surrey = (
            await issue(client, surrey_officer, title="Surrey", area=circle(SURREY, 1_000))
        ).json()
        got_one, got_two = await one.receive(), await two.receive()
        assert (got_one["type"], got_one["data"]["id"]) == ("alert.issued", in_london["id"])
        assert (got_two["type"], got_two["data"]["id"]) == ("alert.issued", in_surrey["id"])
        assert await one.nothing_more()
        assert await two.nothing_more()


async def test_resume_replays_exactly_what_was_missed_in_order_then_goes_live(
    live: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = live
    officer, resident = await officer_and_londoner(app, client)
    async with WsClient(app) as ws:
        await ws.auth(token_of(resident))
        await asyncio.sleep(0.4)  # registered and past the resume window: live
        await issue(client, officer, title="Seen")
        seen = await ws.receive()
    missed = [(await issue(client, officer, title=f"Missed {n}")).json()["id"] for n in range(3)]
    async with WsClient(app) as ws:
        await ws.auth(token_of(resident), since=seen["seq"])
        replayed = await ws.events(3)
        assert [e["data"]["id"] for e in replayed] == missed
        seqs = [seen["seq"]] + [e["seq"] for e in replayed]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == 4
        later = (await issue(client, officer, title="Live")).json()
        live_event = await ws.receive()
        assert live_event["data"]["id"] == later["id"]
        assert live_event["seq"] > seqs[-1]
        assert await ws.nothing_more()


async def test_a_since_the_log_does_not_hold_answers_reset(
    live: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = live
    resident = await new_account(client)
    async with WsClient(app) as ws:
        await ws.auth(token_of(resident), since=10**12)
        assert await ws.receive() == {"type": "reset"}


async def test_a_slow_client_is_closed_1013_and_a_resume_gets_everything(
    app_factory: AppFactory,
) -> None:
    async with app_factory(dispatcher_in_process=True, ws_queue_size=2, ws_resume_window_s=0.1) as (
        app,
        client,
    ):
        officer, resident = await officer_and_londoner(app, client)
        alerts = []
        async with WsClient(app) as ws:
            await ws.auth(token_of(resident))
            await asyncio.sleep(0.3)  # registered and past the resume window: live
            await issue(client, officer, title="First")
            first = await ws.receive()
            ws.pause()  # the phone stops reading
            for n in range(8):
                alerts.append((await issue(client, officer, title=f"Burst {n}")).json()["id"])
            await asyncio.sleep(0.5)
            ws.read_again()
            received, code = await read_until_closed(ws)
        assert code == 1013
        last = received[-1]["seq"] if received else first["seq"]
        async with WsClient(app) as ws:
            await ws.auth(token_of(resident), since=last)
            rest = await ws.events(len(alerts) - len(received))
            assert await ws.nothing_more()
        assert [e["data"]["id"] for e in received + rest] == alerts
        metrics = (await client.get("/metrics")).text
        assert "nw_ws_slow_client_closes_total 1.0" in metrics


async def test_group_members_see_new_reports_publicly_and_reporters_their_status(
    live: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = live
    owner, member = await new_account(client), await new_account(client)
    group = await new_group(client, owner, join_policy="open")
    await verify(app, client, group["id"])
    joined = await client.post(f"/v1/groups/{group['id']}/join", headers=member.headers, json={})
    assert joined.status_code in (200, 201), joined.text
    async with WsClient(app) as ws, WsClient(app) as mine:
        await ws.auth(token_of(owner))
        await mine.auth(token_of(member))
        await asyncio.sleep(0.3)
        incident = (await report(client, member, anonymous=True)).json()
        seen = await ws.receive()
        if seen["type"] == "group.verification_decided":  # told to the owner, maybe now
            seen = await ws.receive()
        assert seen["type"] == "incident.created"
        assert seen["data"]["id"] == incident["id"]
        assert seen["data"]["location_exact"] is False
        assert seen["data"]["reporter"] is None
        verified = await client.post(
            f"/v1/incidents/{incident['id']}/transitions",
            headers=owner.headers,
            json={"status": "verified"},
        )
        assert verified.status_code == 200, verified.text
        kinds = set()
        for _ in range(3):  # created, status_changed, verified: in some order per seq
            kinds.add((await mine.receive())["type"])
        assert kinds == {"incident.created", "incident.status_changed", "incident.verified"}


async def test_an_idle_connection_is_pinged(app_factory: AppFactory) -> None:
    async with app_factory(ws_ping_s=0.2, ws_resume_window_s=0.05) as (app, client):
        resident = await new_account(client)
        async with WsClient(app) as ws:
            await ws.auth(token_of(resident))
            assert await ws.receive(patience_s=5, pings=True) == {"type": "ping"}
            assert await ws.receive(patience_s=5, pings=True) == {"type": "ping"}


async def test_a_since_older_than_the_retained_log_answers_reset(
    live: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = live
    officer, resident = await officer_and_londoner(app, client)
    async with WsClient(app) as ws:
        await ws.auth(token_of(resident))
        await asyncio.sleep(0.4)
        await issue(client, officer, title="Old news")
        old = await ws.receive()
        await issue(client, officer, title="Newer")
        newer = await ws.receive()
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(LoggedEvent)
            .where(col(LoggedEvent.user_id) == resident.id, col(LoggedEvent.user_seq) == old["seq"])
            .values(created_at=datetime.now(UTC) - timedelta(days=8))
        )
        assert await event_log.prune(session, datetime.now(UTC) - timedelta(days=7)) == 1
    async with WsClient(app) as ws:  # it missed the pruned event: it must refetch
        await ws.auth(token_of(resident), since=old["seq"] - 1)
        assert await ws.receive() == {"type": "reset"}
    async with WsClient(app) as ws:  # it saw the pruned one: the rest is still there
        await ws.auth(token_of(resident), since=old["seq"])
        assert (await ws.receive())["seq"] == newer["seq"]
