"""`nwatch worker` processes against PostgreSQL, with each FCM sender: a SIGKILL
half-way through a fan-out loses nothing and repeats nothing that was recorded; two
workers share the work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, insert, select
from sqlmodel import col

from app.devices.models import Device
from app.push.models import Delivery
from tests.alerts.factories import LONDON, issue, new_agency, watch
from tests.auth.factories import new_account
from tests.fakes.fcm import FakeFCM
from tests.push.factories import pending, wait_for

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


def start_worker(
    database_url: str, service_account: Path, fake: FakeFCM, sender: str, lease_s: float = 3
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "NW_DATABASE_URL": database_url,
        "NW_JWT_SECRET": "worker-test-secret-" + "w" * 32,
        "NW_FIREBASE_CREDENTIALS": str(service_account),
        "NW_FCM_ENDPOINT": fake.url,
        "NW_PUSH_SENDER": sender,
        "NW_PUSH_LEASE_S": str(lease_s),
        "NW_LOG_LEVEL": "WARNING",
    }
    nwatch = Path(sys.executable).with_name("nwatch")
    return subprocess.Popen([str(nwatch), "worker"], env=env)


async def residents_with_devices(
    app: FastAPI, client: httpx.AsyncClient, residents: int, devices_each: int
) -> list[str]:
    """Residents made through the API; their many phones written straight to the table."""
    tokens: list[str] = []
    rows = []
    for _ in range(residents):
        who = await new_account(client)
        await watch(client, who, LONDON)
        for _ in range(devices_each):
            token = f"fleet-{uuid.uuid4().hex}"
            tokens.append(token)
            rows.append(
                {"id": uuid.uuid4(), "user_id": who.id, "fcm_token": token, "platform": "android"}
            )
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(insert(Device), rows)
    return tokens


async def sent_count(app: FastAPI) -> int:
    async with app.state.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(Delivery).where(col(Delivery.state) == "sent")
        )
    return count or 0


async def test_a_worker_killed_half_way_loses_nothing_and_repeats_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    database_url: str,
    fake_fcm: FakeFCM,
    service_account: Path,
    sender_name: str,
) -> None:
    officer = await new_agency(app, client)
    tokens = await residents_with_devices(app, client, 50, 100)  # 5,000 phones
    fake_fcm.hold_after = 2_300  # FCM stops answering there, as a network cut would
    await issue(client, officer)
    first = start_worker(database_url, service_account, fake_fcm, sender_name)
    try:

        async def stalled_and_recorded() -> bool:
            # Sends are held in flight, and every answer the worker got is recorded.
            return fake_fcm.held > 0 and await sent_count(app) == len(fake_fcm.accepted)

        await wait_for(stalled_and_recorded, "the first worker to stall half-way")
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
    finally:
        first.kill()
    # What was in flight never got an answer to anyone: FCM did not take it.
    fake_fcm.release_held(drop=True)
    accepted_before = len(fake_fcm.accepted)
    assert 2_300 <= accepted_before < 5_000

    second = start_worker(database_url, service_account, fake_fcm, sender_name)
    try:

        async def all_sent() -> bool:
            return await pending(app.state.sessionmaker) == 0

        await wait_for(all_sent, "the second worker to finish")
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0  # a clean stop
    finally:
        second.kill()
    assert fake_fcm.tokens() == Counter(dict.fromkeys(tokens, 1))
    assert await sent_count(app) == 5_000


async def test_two_workers_at_once_push_each_device_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    database_url: str,
    fake_fcm: FakeFCM,
    service_account: Path,
    sender_name: str,
) -> None:
    officer = await new_agency(app, client)
    tokens = await residents_with_devices(app, client, 20, 100)
    fake_fcm.delay_s = 0.002  # long enough for the two to overlap
    # A lease far longer than the run: a claim that ran out on a loaded machine would let
    # the other worker send it again (at least once, by design), which is not what this
    # test is about; the kill test above covers leases running out.
    workers = [
        start_worker(database_url, service_account, fake_fcm, sender_name, lease_s=60)
        for _ in range(2)
    ]
    try:
        await issue(client, officer)
        await issue(client, officer, title="A second alert, the same phones")

        async def all_sent() -> bool:
            return await sent_count(app) == 2 * len(tokens)

        await wait_for(all_sent, "both alerts to be pushed")
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        assert [w.wait(timeout=30) for w in workers] == [0, 0]
    finally:
        for worker in workers:
            worker.kill()
    assert fake_fcm.tokens() == Counter(dict.fromkeys(tokens, 2))
    assert len(fake_fcm.accepted) == 2 * len(tokens)
