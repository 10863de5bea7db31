"""The weekly check: a verified group's coordinators are told of a rise once (push and
realtime), members are not, a restart does not tell them again, a new period's rise is
told, nothing is told when nothing rises, and unverified groups are not checked."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlmodel import col

from app.evidence.checks import EVENT, run_checks
from app.evidence.models import EvidenceCheck
from app.push.dispatcher import Dispatcher
from app.push.senders import PushMessage
from app.realtime.models import LoggedEvent
from tests.auth.factories import Account, new_account
from tests.conftest import AppFactory
from tests.evidence.fixtures import import_police
from tests.groups.factories import CAMDEN, join, new_group, outbox_events, set_member, verify
from tests.push.factories import RecordingSender, device, drain

# The last three complete months then are 2026-08 to 2026-10: the fixture's period.
NOW = datetime(2026, 11, 15, 9, 0, tzinfo=UTC)


def token(name: str) -> str:
    return f"token-{name.replace(' ', '-')}-" + "x" * 40


async def verified_group(
    app: FastAPI, client: httpx.AsyncClient, **fields: Any
) -> tuple[dict[str, Any], dict[str, Account]]:
    owner, coordinator, member = [await new_account(client) for _ in range(3)]
    group = await new_group(client, owner, join_policy="open", **fields)
    for account in (coordinator, member):
        await join(client, account, group["id"])
    await set_member(client, owner, group["id"], coordinator, role="coordinator")
    await verify(app, client, group["id"])
    accounts = {"owner": owner, "coordinator": coordinator, "member": member}
    for name, account in accounts.items():
        await device(client, account, token(f"{group['name']}-{name}"))
    return group, accounts


async def dispatched(app: FastAPI) -> tuple[list[PushMessage], set[uuid.UUID]]:
    """The pushes of EVENT and who got it in realtime, once the dispatcher has run."""
    sender = RecordingSender()
    await drain(Dispatcher(app.state.sessionmaker, sender))
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            select(col(LoggedEvent.user_id)).where(col(LoggedEvent.event_type) == EVENT)
        )
        users = set(rows.scalars())
    return [m for m in sender.sent if m.content["data"].get("type") == EVENT], users


async def test_coordinators_are_told_of_a_rise_once(
    app_factory: AppFactory, tmp_path: Path
) -> None:
    async with app_factory() as (app, client):
        group, accounts = await verified_group(app, client)
        quiet, _ = await verified_group(app, client, name="Camden Watch", area=CAMDEN)
        await new_group(client, await new_account(client), name="Not vetted")  # same area
        await import_police(app, tmp_path)

        assert await run_checks(app.state.sessionmaker, NOW) == 1
        events = await outbox_events(app, EVENT)
        assert len(events) == 1
        event = events[0]
        assert (event["group_id"], event["first"], event["last"]) == (
            group["id"],
            "2026-08",
            "2026-10",
        )
        told = [(r["source"], r["category"], r["current"], r["previous"]) for r in event["rising"]]
        assert told == [("police", "burglary", 14, 5)]
        pushes, users = await dispatched(app)
        assert sorted(m.token for m in pushes) == sorted(
            token(f"Elm Street Watch-{n}") for n in ("owner", "coordinator")
        )
        assert users == {accounts["owner"].id, accounts["coordinator"].id}
        # In words, what the group's stats say to any member; nothing finer.
        assert pushes[0].content["title"] == "Burglary is up in Elm Street Watch"
        assert pushes[0].content["body"] == (
            "2026-08 to 2026-10. Burglary: 14 recorded by the police against 5 before."
        )
        # Checked, nothing rising: on record, nobody told.
        async with app.state.sessionmaker() as session:
            record = await session.get(EvidenceCheck, uuid.UUID(quiet["id"]))
            assert record is not None
            assert record.notified == []
        assert await run_checks(app.state.sessionmaker, NOW + timedelta(days=1)) == 0

    # Restarted: the last check is on record, so nothing is checked nor told again.
    async with app_factory() as (app, client):
        assert await run_checks(app.state.sessionmaker, NOW + timedelta(days=2)) == 0
        # A week on, due again: the same rise in the same period is not told twice.
        assert await run_checks(app.state.sessionmaker, NOW + timedelta(days=8)) == 0
        assert len(await outbox_events(app, EVENT)) == 1
        async with app.state.sessionmaker() as session:
            record = await session.get(EvidenceCheck, uuid.UUID(group["id"]))
            assert record is not None
            assert record.checked_at == NOW + timedelta(days=8)
            assert record.notified == ["police:burglary"]
        # A month on, 2026-09 to 2026-11: burglary 20 against 8 is a new period's rise,
        # and drugs 8 against 1 too, now that no year before is held to say it is the season.
        assert await run_checks(app.state.sessionmaker, NOW + timedelta(days=31)) == 1
        [latest] = [e for e in await outbox_events(app, EVENT) if e["last"] == "2026-11"]
        assert latest["first"] == "2026-09"
        assert [(r["category"], r["current"], r["previous"]) for r in latest["rising"]] == [
            ("burglary", 20, 8),
            ("drugs", 8, 1),
        ]


async def test_a_group_no_longer_verified_is_neither_checked_nor_told(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    group, accounts = await verified_group(app, client)
    await import_police(app, tmp_path)
    assert await run_checks(app.state.sessionmaker, NOW) == 1
    # Its area changes before the dispatcher runs: it is unverified, so nobody is told.
    moved = await client.patch(
        f"/v1/groups/{group['id']}", headers=accounts["owner"].headers, json={"area": CAMDEN}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["verification"] == "unverified"
    pushes, users = await dispatched(app)
    assert (pushes, users) == ([], set())
    assert await run_checks(app.state.sessionmaker, NOW + timedelta(days=40)) == 0


async def test_the_dispatcher_process_runs_the_check(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    group, _ = await verified_group(app, client)
    stop = asyncio.Event()
    dispatcher = Dispatcher(app.state.sessionmaker, RecordingSender(), evidence=True)
    running = asyncio.create_task(dispatcher.run(stop))

    async def recorded() -> EvidenceCheck:
        while True:
            async with app.state.sessionmaker() as session:
                record: EvidenceCheck | None = await session.get(
                    EvidenceCheck, uuid.UUID(group["id"])
                )
            if record is not None:
                return record
            await asyncio.sleep(0.05)

    try:
        record = await asyncio.wait_for(recorded(), timeout=60)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=60)
    assert record.notified == []  # no police data, no reports: nothing rising
