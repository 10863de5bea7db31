"""`seq` numbers each user's own events: it must tell nobody how many events others got.

The first three tests are the red team's probes (tests/test_redteam.py in the red-team
review), kept as acceptance tests: on one global counter for everyone's events, the gap
between two of my own events counted an alert's exact reach, and resuming answered by
everyone's oldest and newest event. The others pin what per-user numbering promises.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlmodel import col

from app.auth.models import User
from app.geo.privacy import snap
from app.push.dispatcher import Dispatcher
from app.realtime import log as event_log
from app.realtime.models import LoggedEvent
from tests.alerts.factories import circle, issue, new_agency, watch
from tests.auth.factories import Account, new_account
from tests.groups.factories import join, new_group, verify
from tests.incidents.factories import SPOT, report
from tests.push.factories import RecordingSender, drain
from tests.realtime.client import WsClient

# The victim's home, well inside the attacker's 1.75 km group around (-0.1276, 51.5072).
HOME = (-0.1276, 51.5072)
M_PER_DEG_LAT = 111_195.0


def east_of(point: tuple[float, float], metres: float) -> tuple[float, float]:
    lon, lat = point
    return (lon + metres / (M_PER_DEG_LAT * math.cos(math.radians(lat))), lat)


def north_of(point: tuple[float, float], metres: float) -> tuple[float, float]:
    lon, lat = point
    return (lon, lat + metres / M_PER_DEG_LAT)


def token_of(account: Account) -> str:
    return account.headers["Authorization"].removeprefix("Bearer ")


async def _neighbourhood(
    client: httpx.AsyncClient,
) -> tuple[Account, dict[str, Any], Account]:
    """An attacker's open (unverified) group over a neighbourhood, and a victim who joined
    it as residents do and watches 50 m around their home."""
    attacker = await new_account(client, display_name="Coordinator")
    group = await new_group(
        client, attacker, area=circle(HOME, 1_750), visibility="public", join_policy="open"
    )
    victim = await new_account(client, display_name="Victim")
    assert (await join(client, victim, group["id"])).status_code in (200, 201)
    await watch(client, victim, HOME, 50)
    return attacker, group, victim


async def _my_seqs(app: FastAPI, who: Account) -> list[tuple[int, str, dict[str, Any]]]:
    """Every event the log holds for `who`, replayed over the WebSocket from the start."""
    frames = []
    async with WsClient(app) as ws:
        await ws.auth(token_of(who), since=0)
        while True:
            try:
                frame = await ws.receive(1.0)
            except TimeoutError:
                break
            assert "seq" in frame, frame
            frames.append((frame["seq"], frame["type"], frame["data"]))
    return frames


async def _resets(app: FastAPI, who: Account, since: int) -> bool:
    async with WsClient(app) as ws:
        await ws.auth(token_of(who), since=since)
        try:
            return (await ws.receive(1.0)) == {"type": "reset"}
        except TimeoutError:
            return False


async def test_the_seq_gap_between_my_events_does_not_count_an_alerts_recipients(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The attacker brackets an exercise alert with `test` alerts (which reach only their
    issuer): on a global counter, the gap between the seqs of their own two test events
    was how many other people the alert reached, while /stats said "<10". A 200 m alert
    at the victim's home opened a gap, one 300 m away did not."""
    attacker, group, _victim = await _neighbourhood(client)
    dispatcher = Dispatcher(app.state.sessionmaker, RecordingSender())
    far = north_of(HOME, 1_400)  # the attacker watches a place nowhere near either probe
    await watch(client, attacker, far, 50)

    async def bracket(probe_at: tuple[float, float]) -> int:
        for area in (circle(far, 200), circle(probe_at, 200), circle(far, 200)):
            status = "exercise" if area["coordinates"] == list(probe_at) else "test"
            answer = await issue(client, attacker, group_id=group["id"], area=area, status=status)
            assert answer.status_code == 201, answer.text
            await drain(dispatcher)
        mine = [seq for seq, kind, _ in await _my_seqs(app, attacker) if kind == "alert.issued"]
        return mine[-1] - mine[-2] - 1  # events logged for others in between

    away = await bracket(east_of(HOME, 300))
    at_home = await bracket(HOME)
    assert (away, at_home) == (0, 0), (
        f"others reached: 300 m away {away}, at the home {at_home} (stats said '<10')"
    )


async def test_the_seq_gap_does_not_tell_which_side_of_a_verified_groups_edge_a_report_is(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A report is told to the members of the groups holding its snapped point and to the
    coordinators of verified groups holding its exact point; on a global counter, the seq
    gap around it, read between two of the attacker's own `test` alerts, counted them
    all. Two reports in the same 250 m cell (same snapped point, both shown to the
    attacker) then differed by whether their exact point lies inside a small verified
    group's area: here a 50 m circle, 60 m between the two points."""
    west_60m = (SPOT[0] - 60 / (M_PER_DEG_LAT * math.cos(math.radians(SPOT[1]))), SPOT[1])
    snapped = snap(*SPOT)
    assert snap(*west_60m) == snapped
    attacker = await new_account(client)
    dispatcher = Dispatcher(app.state.sessionmaker, RecordingSender())
    shown_to_me = await new_group(
        client, attacker, area=circle(snapped, 1_500), visibility="public"
    )
    # Somebody else's verified street group, 50 m around SPOT (not holding the snapped point).
    street_owner = await new_account(client)
    street = await new_group(client, street_owner, area=circle(SPOT, 50))
    await verify(app, client, street["id"])
    await drain(dispatcher)
    reporter = await new_account(client)

    async def told_about(at: tuple[float, float]) -> int:
        mine = circle(snapped, 200)
        first = await issue(client, attacker, group_id=shown_to_me["id"], area=mine, status="test")
        assert first.status_code == 201, first.text
        await drain(dispatcher)
        filed = await report(client, reporter, location={"type": "Point", "coordinates": list(at)})
        assert filed.status_code == 201, filed.text
        await drain(dispatcher)
        seen = await client.get(f"/v1/incidents/{filed.json()['id']}", headers=attacker.headers)
        assert seen.json()["location"]["coordinates"] == list(snapped)  # all I am shown
        last = await issue(client, attacker, group_id=shown_to_me["id"], area=mine, status="test")
        assert last.status_code == 201, last.text
        await drain(dispatcher)
        seqs = [seq for seq, kind, _ in await _my_seqs(app, attacker) if kind == "alert.issued"]
        return seqs[-1] - seqs[-2] - 1  # deliveries of the report, mine included

    outside, inside = await told_about(west_60m), await told_about(SPOT)
    assert outside == inside, f"told: outside the 50 m circle {outside}, inside {inside}"


async def test_resume_answers_do_not_tell_how_many_events_everyone_else_got(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Without receiving a single event, a resident found the global seq by resuming:
    `since` above everyone's newest event answered `reset`, at or below it replayed
    nothing. Probed before and after an alert, that was its exact reach (here: one
    resident)."""
    officer = await new_agency(app, client)
    victim, prober = await new_account(client), await new_account(client)
    await watch(client, victim, HOME, 50)
    dispatcher = Dispatcher(app.state.sessionmaker, RecordingSender())
    await drain(dispatcher)

    before = [await _resets(app, prober, n) for n in (1, 2)]
    alert = await issue(client, officer, area=circle(HOME, 25), status="exercise")
    assert alert.status_code == 201, alert.text
    await drain(dispatcher)
    after = [await _resets(app, prober, n) for n in (1, 2)]
    assert before == after, f"resume since 1, 2: before {before}, after {after}"


# What per-user numbering promises ---------------------------------------------------


async def test_each_users_seq_counts_their_own_events_from_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Whoever else an alert reaches, each recipient's events are numbered 1, 2, 3…"""
    officer = await new_agency(app, client)
    near, also_near, far = [await new_account(client) for _ in range(3)]
    await watch(client, near, HOME, 50)
    await watch(client, also_near, east_of(HOME, 20), 50)
    await watch(client, far, north_of(HOME, 5_000), 50)
    dispatcher = Dispatcher(app.state.sessionmaker, RecordingSender())
    for area in (circle(HOME, 100), circle(north_of(HOME, 5_000), 100), circle(HOME, 100)):
        assert (await issue(client, officer, area=area, status="exercise")).status_code == 201
        await drain(dispatcher)
    seqs = {
        name: [seq for seq, kind, _ in await _my_seqs(app, who) if kind == "alert.issued"]
        for name, who in (("near", near), ("also_near", also_near), ("far", far))
    }
    assert seqs == {"near": [1, 2], "also_near": [1, 2], "far": [1]}


async def test_a_resume_is_judged_on_the_callers_own_events_only(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    resident, other = await new_account(client), await new_account(client)
    await watch(client, resident, HOME, 50)
    await watch(client, other, north_of(HOME, 5_000), 50)
    dispatcher = Dispatcher(app.state.sessionmaker, RecordingSender())
    for _ in range(3):  # three events for the other user only
        away = circle(north_of(HOME, 5_000), 100)
        assert (await issue(client, officer, area=away, status="exercise")).status_code == 201
    here = await issue(client, officer, area=circle(HOME, 100), status="exercise")
    assert here.status_code == 201, here.text
    await drain(dispatcher)
    mine = await _my_seqs(app, resident)
    assert [seq for seq, _, _ in mine] == [1]
    assert not await _resets(app, resident, 0)
    assert not await _resets(app, resident, 1)  # up to date: nothing to replay
    assert await _resets(app, resident, 2)  # newer than anything of mine: another log


async def test_pruning_keeps_each_users_newest_event_so_numbering_never_restarts(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Were all of a user's rows pruned, their numbering would restart at 1, and a client
    that last saw the old 1 would take the new 1 for it: a silent gap. So pruning keeps
    each user's newest row, and the next event is numbered after it."""
    officer = await new_agency(app, client)
    resident = await new_account(client)
    await watch(client, resident, HOME, 50)
    dispatcher = Dispatcher(app.state.sessionmaker, RecordingSender())
    for _ in range(2):
        alert = await issue(client, officer, area=circle(HOME, 100), status="exercise")
        assert alert.status_code == 201, alert.text
        await drain(dispatcher)
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(LoggedEvent)
            .where(col(LoggedEvent.user_id) == resident.id)
            .values(created_at=datetime.now(UTC) - timedelta(days=8))
        )
        assert await event_log.prune(session, datetime.now(UTC) - timedelta(days=7)) == 1
    assert await _resets(app, resident, 0)  # event 1 is gone
    assert not await _resets(app, resident, 1)  # saw 1: 2 is still there
    assert not await _resets(app, resident, 2)
    alert = await issue(client, officer, area=circle(HOME, 100), status="exercise")
    assert alert.status_code == 201, alert.text
    await drain(dispatcher)
    assert await _resets(app, resident, 0)
    async with WsClient(app) as ws:
        await ws.auth(token_of(resident), since=2)
        assert (await ws.receive())["seq"] == 3


async def test_a_fan_out_numbers_every_recipient_without_gaps_or_repeats(
    app: FastAPI,
) -> None:
    """Appended in one call, in chunks, for users with and without earlier events, and
    again (a retry): every user's numbers stay 1..n."""
    users = [uuid.uuid4() for _ in range(1_203)]
    async with app.state.sessionmaker() as session, session.begin():
        session.add_all(User(id=u, email=f"{u}@example.org", display_name="x") for u in users)
    events = [uuid.uuid4() for _ in range(3)]
    async with app.state.sessionmaker() as session, session.begin():
        assert await event_log.append(session, events[0], "alert.issued", users[::2]) == {
            u: 1 for u in users[::2]
        }
    async with app.state.sessionmaker() as session, session.begin():
        seqs = await event_log.append(session, events[1], "alert.issued", users)
        assert seqs == {u: (2 if i % 2 == 0 else 1) for i, u in enumerate(users)}
    async with app.state.sessionmaker() as session, session.begin():  # a retry: nothing twice
        assert await event_log.append(session, events[1], "alert.issued", users) == seqs
        assert await event_log.append(session, events[2], "alert.issued", users[:1]) == {
            users[0]: 3
        }
    async with app.state.sessionmaker() as session:
        counts = await session.execute(
            select(
                func.count(),
                func.max(col(LoggedEvent.user_seq)),
                func.count(col(LoggedEvent.user_seq)),
            ).group_by(col(LoggedEvent.user_id))
        )
        assert all(n == top == numbered for n, top, numbered in counts.all())
