"""Retention (app.retention): each rule at its boundary, on both databases, by moving
the clock the purge is given; the `nwatch purge` command; the dispatcher's daily purge."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy import select, text, update
from sqlmodel import col

from app import retention
from app.alerts.models import AlertReceipt
from app.auth.models import RefreshToken
from app.db import TableModel
from app.geo.privacy import snap
from app.groups.models import Invitation
from app.idempotency import IdempotencyRecord
from app.incidents.models import Incident
from app.push.dispatcher import Dispatcher
from app.push.models import Delivery
from app.push.senders import Outcome, SendResult
from app.ratelimit import Rate, redis_limiter
from app.realtime.models import LoggedEvent
from app.retention import Policy, Purged
from app.settings import Settings
from tests.alerts.factories import LONDON, issue, new_agency, watch
from tests.auth.factories import Account, new_account, new_admin
from tests.conftest import AppFactory
from tests.groups.factories import invite, new_group, verify
from tests.incidents.factories import report
from tests.push.factories import RecordingSender, device, drain

ROOT = Path(__file__).resolve().parent.parent
SECOND = timedelta(seconds=1)
# Inside tests.groups.factories.LONDON, with enough decimals that its digits are found
# wherever it is kept (as text, JSON, or an R*Tree's 32-bit float).
EXACT = (-0.127913, 51.508437)
SNAPPED = snap(*EXACT)
EXACT_DIGITS = ("-0.12791", "51.50843")
# Fixed, so that a retry sends the very same body.
OCCURRED = (datetime.now(UTC) - timedelta(hours=2)).isoformat()


def policy(app: FastAPI) -> Policy:
    settings: Settings = app.state.settings
    return Policy.of(settings)


async def purge_at(app: FastAPI, now: datetime) -> Purged:
    return await retention.purge(app.state.sessionmaker, policy(app), now=now)


async def read(client: httpx.AsyncClient, who: Account, incident_id: str) -> dict[str, Any]:
    answer = await client.get(f"/v1/incidents/{incident_id}", headers=who.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@dataclass(frozen=True)
class Scene:
    owner: Account  # of a verified group: a moderator of the report
    reporter: Account
    group_id: str
    report: dict[str, Any]  # at EXACT, made after the verification


async def moderated_report(
    app: FastAPI, client: httpx.AsyncClient, key: str | None = None
) -> Scene:
    owner = await new_account(client, display_name="Coordinator")
    group = await new_group(client, owner)
    await verify(app, client, group["id"])
    reporter = await new_account(client, display_name="Reporter")
    made = await report(
        client,
        reporter,
        key=key,
        location={"type": "Point", "coordinates": list(EXACT)},
        accuracy_m=12,
        occurred_at=OCCURRED,
    )
    assert made.status_code == 201, made.text
    return Scene(owner, reporter, group["id"], made.json())


# -- exact points ---------------------------------------------------------------------


async def test_exact_point_is_snapped_after_the_retention_period_even_for_moderators(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    scene = await moderated_report(app, client)
    owner, reporter, made = scene.owner, scene.reporter, scene.report
    admin = await new_admin(app, client)
    seen = await read(client, owner, made["id"])
    assert seen["location"]["coordinates"] == list(EXACT)
    assert seen["location_exact"] is True
    assert seen["accuracy_m"] == 12
    due = datetime.fromisoformat(made["reported_at"]) + timedelta(days=90)

    assert (await purge_at(app, due - SECOND)).exact_locations == 0
    assert (await read(client, owner, made["id"]))["location"]["coordinates"] == list(EXACT)

    assert (await purge_at(app, due + SECOND)).exact_locations == 1
    for who in (owner, reporter, admin):
        body = await read(client, who, made["id"])
        assert body["location"]["coordinates"] == list(SNAPPED), who
        assert body["location_exact"] is False
        assert body["accuracy_m"] is None
    listed = await client.get(
        "/v1/incidents", headers=owner.headers, params={"group_id": scene.group_id}
    )
    assert [
        (i["id"], i["location"]["coordinates"], i["location_exact"]) for i in listed.json()["items"]
    ] == [(made["id"], list(SNAPPED), False)]
    assert (await purge_at(app, due + SECOND)).exact_locations == 0  # nothing twice


async def tables_holding_the_exact_point(app: FastAPI) -> set[str]:
    """Every table (and the geo index proper) whose rows hold EXACT's digits, in any column."""
    found: set[str] = set()
    async with app.state.sessionmaker() as session:
        for table in TableModel.metadata.sorted_tables:
            rows = (await session.execute(select(table))).all()
            if any(d in repr(tuple(row)) for row in rows for d in EXACT_DIGITS):
                found.add(table.name)
        if session.get_bind().dialect.name == "sqlite":
            boxes = (await session.execute(text("SELECT * FROM geo_rtree"))).all()
        else:
            boxes = (await session.execute(text("SELECT ST_AsText(bbox) FROM geo_entries"))).all()
        if any(d in repr(tuple(row)) for row in boxes for d in EXACT_DIGITS):
            found.add("geo index boxes")
    return found


async def test_once_coarsened_the_exact_point_is_kept_nowhere(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # Everything a report leads to: a stored idempotent answer, moderation, the events,
    # realtime payloads and pushes the dispatcher makes of it.
    scene = await moderated_report(app, client, key="retention-key-1")
    owner, reporter, made = scene.owner, scene.reporter, scene.report
    await device(client, reporter, "token-reporter-" + "r" * 20)
    moved = await client.post(
        f"/v1/incidents/{made['id']}/transitions",
        headers=owner.headers,
        json={"status": "verified", "note": "seen it"},
    )
    assert moved.status_code == 200, moved.text
    await drain(Dispatcher(app.state.sessionmaker, RecordingSender()))
    # What the search relies on: the snapped point does not have the exact one's digits.
    assert not any(d in repr(SNAPPED) for d in EXACT_DIGITS)
    before = await tables_holding_the_exact_point(app)
    assert {"incidents", "geo_entries", "geo index boxes", "idempotency_keys"} <= before

    await purge_at(app, datetime.fromisoformat(made["reported_at"]) + timedelta(days=90, seconds=1))
    assert await tables_holding_the_exact_point(app) == set()


# -- deliveries -----------------------------------------------------------------------


async def test_finished_deliveries_go_after_the_log_period_and_pending_ones_stay(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    resident = await new_account(client)
    await watch(client, resident, LONDON)
    tokens = {state: f"token-{state}-" + "d" * 20 for state in ("sent", "failed", "pending")}
    for token in tokens.values():
        await device(client, resident, token)
    await issue(client, officer)
    answers = {
        tokens["failed"]: SendResult(Outcome.invalid_token, "UNREGISTERED"),
        tokens["pending"]: SendResult(Outcome.retry, "QUOTA_EXCEEDED", retry_after_s=600),
    }
    await drain(Dispatcher(app.state.sessionmaker, RecordingSender(answers)))
    start = datetime.now(UTC).replace(microsecond=0)
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(update(Delivery).values(created_at=start, next_attempt_at=start))
        # The failed one was retried an hour in: its age counts from that attempt.
        await session.execute(
            update(Delivery)
            .where(col(Delivery.state) == "failed")
            .values(next_attempt_at=start + timedelta(hours=1))
        )

    async def states() -> list[str]:
        async with app.state.sessionmaker() as session:
            return sorted((await session.execute(select(col(Delivery.state)))).scalars())

    assert await states() == ["failed", "pending", "sent"]
    due = start + timedelta(days=30)
    assert (await purge_at(app, due - SECOND)).deliveries == 0
    assert (await purge_at(app, due + SECOND)).deliveries == 1
    assert await states() == ["failed", "pending"]
    assert (await purge_at(app, due + timedelta(hours=1) - SECOND)).deliveries == 0
    assert (await purge_at(app, due + timedelta(hours=1) + SECOND)).deliveries == 1
    assert (await purge_at(app, due + timedelta(days=3650))).deliveries == 0
    assert await states() == ["pending"]


async def test_alert_receipts_go_after_the_log_period(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Why each resident got an alert (`why`) is part of the delivery log."""
    officer = await new_agency(app, client)
    resident = await new_account(client)
    await watch(client, resident, LONDON)
    alert = (await issue(client, officer)).json()
    await drain(Dispatcher(app.state.sessionmaker, RecordingSender()))
    start = datetime.now(UTC).replace(microsecond=0)
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(update(AlertReceipt).values(created_at=start))

    async def why() -> object:
        answer = await client.get(f"/v1/alerts/{alert['id']}", headers=resident.headers)
        assert answer.status_code == 200, answer.text
        return answer.json()["why"]

    assert await why() is not None
    due = start + timedelta(days=30)
    assert (await purge_at(app, due - SECOND)).alert_receipts == 0
    assert await why() is not None
    assert (await purge_at(app, due + SECOND)).alert_receipts == 1
    assert await why() is None


# -- refresh tokens -------------------------------------------------------------------


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(
        "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": token}
    )


async def test_expired_refresh_tokens_go_whatever_their_state(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    rotating, leaving = await new_account(client), await new_account(client)
    rotated = await refresh(client, rotating.refresh_token)
    assert rotated.status_code == 200, rotated.text
    live_token = rotated.json()["refresh_token"]
    logged_out = await client.post("/v1/auth/logout", json={"refresh_token": leaving.refresh_token})
    assert logged_out.status_code == 204
    async with app.state.sessionmaker() as session:
        rows = (await session.execute(select(RefreshToken))).scalars().all()
    assert sorted((r.rotated_at is not None, r.revoked_at is not None) for r in rows) == [
        (False, False),  # the live one
        (False, True),  # logged out
        (True, False),  # rotated
    ]
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(update(RefreshToken).values(expires_at=expires))
        await session.execute(
            update(RefreshToken)
            .where(col(RefreshToken.rotated_at).is_(None), col(RefreshToken.revoked_at).is_(None))
            .values(expires_at=expires + timedelta(hours=1))
        )

    assert (await purge_at(app, expires - SECOND)).refresh_tokens == 0
    assert (await purge_at(app, expires + SECOND)).refresh_tokens == 2  # rotated, revoked
    assert (await refresh(client, rotating.refresh_token)).status_code == 400
    # The live one of the family still works (and rotates into a new one, 30 days long).
    assert (await refresh(client, live_token)).status_code == 200
    assert (await purge_at(app, expires + timedelta(hours=1) - SECOND)).refresh_tokens == 0
    assert (await purge_at(app, expires + timedelta(hours=1) + SECOND)).refresh_tokens == 1
    async with app.state.sessionmaker() as session:
        kept = (await session.execute(select(RefreshToken))).scalars().all()
    assert [(r.rotated_at, r.revoked_at) for r in kept] == [(None, None)]


# -- idempotency keys -----------------------------------------------------------------


async def test_an_idempotency_key_is_kept_for_its_window_then_goes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    reporter = await new_account(client)
    first = await report(client, reporter, key="retry-me", occurred_at=OCCURRED)
    assert first.status_code == 201, first.text
    async with app.state.sessionmaker() as session:
        created = (await session.execute(select(col(IdempotencyRecord.created_at)))).scalar_one()
    due = created + timedelta(seconds=app.state.settings.idempotency_key_ttl_s)

    assert (await purge_at(app, due - SECOND)).idempotency_keys == 0
    retried = await report(client, reporter, key="retry-me", occurred_at=OCCURRED)
    assert retried.json()["id"] == first.json()["id"]  # still the same report

    assert (await purge_at(app, due + SECOND)).idempotency_keys == 1
    late = await report(client, reporter, key="retry-me", occurred_at=OCCURRED)
    assert late.status_code == 201
    assert late.json()["id"] != first.json()["id"]  # the key is gone: a new request


def test_idempotency_keys_must_go_before_exact_points() -> None:
    with pytest.raises(ValidationError, match="NW_IDEMPOTENCY_KEY_TTL_S"):
        Settings(exact_location_days=7, idempotency_key_ttl_s=7 * 86_400)
    assert Settings(exact_location_days=7, idempotency_key_ttl_s=7 * 86_400 - 1)
    for field in ("exact_location_days", "delivery_log_days"):
        zero: dict[str, Any] = {field: 0}
        with pytest.raises(ValidationError, match=f"{field}\n.*greater than or equal to 1"):
            Settings(**zero)
    defaults = Settings()
    assert (defaults.exact_location_days, defaults.delivery_log_days) == (90, 30)


# -- invitations ----------------------------------------------------------------------


async def invitation_codes(app: FastAPI) -> set[str]:
    async with app.state.sessionmaker() as session:
        return set((await session.execute(select(col(Invitation.code)))).scalars())


async def test_expired_and_used_up_invitations_go(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner, joiner = await new_account(client), await new_account(client)
    group = await new_group(client, owner, join_policy="invite")
    short = await invite(client, owner, group["id"], expires_in_s=3600)
    once = await invite(client, owner, group["id"], max_uses=1)
    lasting = await invite(client, owner, group["id"], max_uses=5)
    accepted = await client.post(f"/v1/invitations/{once}/accept", headers=joiner.headers)
    assert accepted.status_code in (200, 201), accepted.text
    async with app.state.sessionmaker() as session:
        expires = (
            await session.execute(
                select(col(Invitation.expires_at)).where(col(Invitation.code) == short)
            )
        ).scalar_one()

    assert (await purge_at(app, expires - SECOND)).invitations == 1  # the used-up one
    assert await invitation_codes(app) == {short, lasting}
    assert (await purge_at(app, expires + SECOND)).invitations == 1
    assert await invitation_codes(app) == {lasting}
    other = await new_account(client)
    gone = await client.post(f"/v1/invitations/{once}/accept", headers=other.headers)
    assert gone.status_code == 404


# -- the event log --------------------------------------------------------------------


async def test_purge_prunes_the_event_log_keeping_each_users_newest(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    resident = await new_account(client)
    await watch(client, resident, LONDON)
    for title in ("First", "Second"):
        assert (await issue(client, officer, title=title)).status_code == 201
    await drain(Dispatcher(app.state.sessionmaker, RecordingSender()))
    async with app.state.sessionmaker() as session:
        logged = (await session.execute(select(col(LoggedEvent.user_id)))).scalars().all()
    assert logged == [resident.id, resident.id]
    start = datetime.now(UTC).replace(microsecond=0)
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(LoggedEvent).where(col(LoggedEvent.user_seq) == 1).values(created_at=start)
        )
        await session.execute(
            update(LoggedEvent)
            .where(col(LoggedEvent.user_seq) == 2)
            .values(created_at=start + timedelta(hours=1))
        )
    due = start + timedelta(seconds=app.state.settings.event_retention_s)
    assert (await purge_at(app, due - SECOND)).event_log == 0
    assert (await purge_at(app, due + SECOND)).event_log == 1
    # The newest stays, however old, so that the user's numbering never restarts.
    assert (await purge_at(app, due + timedelta(days=365))).event_log == 0
    async with app.state.sessionmaker() as session:
        kept = (await session.execute(select(col(LoggedEvent.user_seq)))).scalars().all()
    assert kept == [2]


# -- batches --------------------------------------------------------------------------


async def test_purge_works_through_every_batch(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "BATCH", 2)
    monkeypatch.setattr(retention, "COARSEN_BATCH", 2)
    reporter = await new_account(client)
    for _ in range(5):
        made = await report(
            client, reporter, location={"type": "Point", "coordinates": list(EXACT)}
        )
        assert made.status_code == 201, made.text
    owner = await new_account(client)
    group = await new_group(client, owner)
    for _ in range(5):
        await invite(client, owner, group["id"], expires_in_s=60)
    later = datetime.now(UTC) + timedelta(days=91)
    purged = await purge_at(app, later)
    assert (purged.exact_locations, purged.invitations) == (5, 5)
    async with app.state.sessionmaker() as session:
        points = (await session.execute(select(col(Incident.lon), col(Incident.lat)))).all()
    assert [tuple(p) for p in points] == [SNAPPED] * 5
    assert await invitation_codes(app) == set()


# -- the command ----------------------------------------------------------------------


async def run_purge_command(database_url: str) -> subprocess.CompletedProcess[str]:
    """`nwatch purge` as an operator runs it, in its own process."""
    env = {**os.environ, "NW_DATABASE_URL": database_url, "NW_JWT_SECRET": "x" * 40}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app.cli", "purge"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def age(app: FastAPI, days: int) -> None:
    """Make everything reported, and every stored answer, `days` older."""
    async with app.state.sessionmaker() as session, session.begin():
        for row in (await session.execute(select(Incident))).scalars():
            row.reported_at -= timedelta(days=days)
        for key in (await session.execute(select(IdempotencyRecord))).scalars():
            key.created_at -= timedelta(days=days)


async def test_purge_command_end_to_end(
    database_url: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    scene = await moderated_report(app, client, key="cli-key")
    reporter, made = scene.reporter, scene.report
    await age(app, 91)
    assert (await read(client, reporter, made["id"]))["location_exact"] is True
    done = await run_purge_command(database_url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == list(Purged().counts())
    assert "exact_locations: 1 (report points older than 90 days replaced" in done.stdout
    assert "idempotency_keys: 1 (" in done.stdout
    assert "deliveries: 0 (" in done.stdout
    body = await read(client, reporter, made["id"])
    assert (body["location"]["coordinates"], body["location_exact"]) == (list(SNAPPED), False)
    again = await run_purge_command(database_url)
    assert "exact_locations: 0 (" in again.stdout


# -- the dispatcher's schedule --------------------------------------------------------


async def test_daily_purges_at_start_then_once_a_day() -> None:
    clock = [0.0]
    ran: list[float] = []
    waits: list[float] = []
    stop = asyncio.Event()

    async def purge() -> None:
        ran.append(clock[0])
        if len(ran) == 2:
            raise RuntimeError("database away")

    async def wait(_stop: asyncio.Event, seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds
        if len(waits) == 4:
            stop.set()

    await retention.daily(purge, stop, wait)
    day, retry = retention.PURGE_EVERY_S, retention.PURGE_RETRY_S
    assert day == 86_400
    assert waits == [day, retry, day, day]  # a failed purge is tried again sooner
    assert ran == [0, day, day + retry, 2 * day + retry]


async def test_daily_stops_waiting_when_stopped() -> None:
    stop = asyncio.Event()
    runs: list[int] = []

    async def purge() -> None:
        runs.append(1)
        stop.set()  # shutdown while the next day is awaited

    await asyncio.wait_for(retention.daily(purge, stop), timeout=30)
    assert runs == [1]


async def test_the_in_process_dispatcher_purges_when_it_starts(
    app: FastAPI, client: httpx.AsyncClient, app_factory: AppFactory
) -> None:
    scene = await moderated_report(app, client)
    reporter, made = scene.reporter, scene.report
    await age(app, 91)
    async with app_factory(dispatcher_in_process=True) as (embedded, _client):
        give_up = time.monotonic() + 60  # a guard against hanging, not a measurement
        while True:
            async with embedded.state.sessionmaker() as session:
                incident = await session.get(Incident, uuid.UUID(made["id"]))
                assert incident is not None
                if (incident.lon, incident.lat) == SNAPPED:
                    break
            assert time.monotonic() < give_up, "the dispatcher never purged"
            await asyncio.sleep(0.05)
    body = await read(client, reporter, made["id"])
    assert (body["location"]["coordinates"], body["location_exact"]) == (list(SNAPPED), False)


# -- rate limits ----------------------------------------------------------------------


async def test_rate_limit_keys_in_redis_expire_with_their_window(live_redis_url: str) -> None:
    """Nothing to purge: each key expires one window after its last counted event."""
    redis = Redis.from_url(live_redis_url)
    try:
        limiter = redis_limiter(redis, live_redis_url)
        rate = Rate(2, 900)
        for _ in range(3):  # the third is refused: it must not keep the key alive either
            await limiter.hit(rate, "login:address:192.0.2.1")
        keys = [key async for key in redis.scan_iter("nw:rl*")]
        assert keys
        for key in keys:
            assert 0 < await redis.ttl(key) <= 900
    finally:
        await redis.aclose()
