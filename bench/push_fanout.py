"""One alert to 100,000 devices: the real dispatcher and its FCM sender into a stand-in FCM.

The stand-in (bench/fcm_standin.py) runs as its own process and is fast enough not to
be the limit (tests/fakes/fcm.py tops out near 9,000 requests/s). The API runs as
`nwatch serve` (SQLite: the dispatcher in-process; PostgreSQL: separate `nwatch
worker`s), configured with NW_FIREBASE_CREDENTIALS / NW_FCM_ENDPOINT / NW_PUSH_SENDER.
The bench POSTs one alert whose area holds every resident (10,000 residents with 10
phones each) and reads from the stand-in when the first and the last push were
accepted; the CPU the dispatching processes spent in between, per push, from /proc. On
PostgreSQL it runs again with two workers sharing the alert.

Baseline, in the same run: firebase-admin's `send_each_async` called directly (no
database) with the same messages (batches of 500, one after another) into a fresh
stand-in: what the SDK alone can push on this machine.

    .venv/bin/python -m bench.push_fanout [--residents N] [--devices-each N]
        [--backends sqlite,postgres] [--senders fcm,firebase-admin] [--no-two-workers]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import firebase_admin
import httpx
from firebase_admin import credentials, messaging
from pydantic import SecretStr
from sqlalchemy import insert

from app.alerts.models import Place
from app.auth.models import User
from app.auth.passwords import PasswordHasher
from app.db import create_engine, create_sessionmaker
from app.devices.models import Device
from app.geo.index import index_for
from app.geo.shapes import Circle
from app.push.senders import PushMessage
from app.push.shaping import build_message
from app.settings import Settings
from bench.common import scratch_database
from bench.incidents import free_port, server

LONDON = (-0.1276, 51.5072)
PASSWORD = "correct horse battery staple"  # noqa: S105 (a throwaway bench account)


@contextlib.asynccontextmanager
async def standin_fcm(directory: Path) -> AsyncIterator[tuple[str, Path]]:
    """bench/fcm_standin.py in its own process: its URL and its service-account file."""
    credentials_file = directory / f"service-account-{uuid.uuid4().hex[:6]}.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.fcm_standin",
        "--credentials",
        str(credentials_file),
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    url = (await process.stdout.readline()).decode().strip()
    try:
        yield url, credentials_file
    finally:
        process.terminate()
        await process.wait()


def machine_busy_seconds() -> float:
    """CPU time every core of the machine has spent busy so far (Linux /proc/stat)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / ticks


async def stats(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        answer: dict[str, Any] = (await client.get(f"{url}/_fake/stats")).json()
        return answer


async def wait_for_accepted(url: str, count: int, patience_s: float = 900) -> dict[str, Any]:
    give_up = time.monotonic() + patience_s
    while True:
        now = await stats(url)
        if now["accepted"] >= count or time.monotonic() > give_up:
            return now
        await asyncio.sleep(0.2)


async def seed(url: str, residents: int, devices_each: int) -> tuple[str, list[uuid.UUID]]:
    """Residents inside a 1 km circle in central London: the officer's email and their ids."""
    settings = Settings(database_url=url, jwt_secret=SecretStr("b" * 32))
    engine = create_engine(settings)
    sessions = create_sessionmaker(engine)
    officer = f"officer-{uuid.uuid4().hex[:6]}@example.org"
    hashed = await PasswordHasher(1, 8192).hash(PASSWORD)
    async with sessions() as session, session.begin():
        session.add(
            User(
                email=officer,
                password_hash=hashed,
                display_name="Officer",
                role="agency",
                jurisdiction={"type": "Point", "coordinates": list(LONDON), "radius_m": 20_000},
            )
        )
    resident_ids: list[uuid.UUID] = []
    for start in range(0, residents, 2_000):
        users: list[dict[str, Any]] = []
        places: list[dict[str, Any]] = []
        devices: list[dict[str, Any]] = []
        for n in range(start, min(residents, start + 2_000)):
            user = uuid.uuid4()
            resident_ids.append(user)
            users.append({"id": user, "email": f"{user.hex}@example.org", "display_name": "r"})
            # Spread over ~600 m around the centre; the alert covers 1 km.
            lon = LONDON[0] + ((n * 7919) % 1000 - 500) / 100_000
            lat = LONDON[1] + ((n * 104729) % 1000 - 500) / 150_000
            places.append(
                {"id": uuid.uuid4(), "user_id": user, "label": "h", "lon": lon, "lat": lat,
                 "radius_m": 200.0}
            )  # fmt: skip
            for d in range(devices_each):
                devices.append(
                    {"id": uuid.uuid4(), "user_id": user, "platform": ("android", "ios")[d % 2],
                     "fcm_token": f"bench-{user.hex}-{d}"}
                )  # fmt: skip
        async with sessions() as session, session.begin():
            await session.execute(insert(User), users)
            await session.execute(insert(Place), places)
            if devices:
                await session.execute(insert(Device), devices)
            await index_for(session).put_many(
                session,
                "place",
                [(p["id"], Circle(p["lon"], p["lat"], p["radius_m"])) for p in places],
                replace=False,
                owners=[p["user_id"] for p in places],
            )
    await engine.dispose()
    return officer, resident_ids


async def alert_poster(
    api: httpx.AsyncClient, officer: str, where: tuple[float, float] = LONDON
) -> Callable[[], Awaitable[None]]:
    """Signs the officer in; returns what POSTs one severe alert (by default over all the
    residents)."""
    signed_in = await api.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": officer, "password": PASSWORD},
    )
    headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    alert = {
        "title": "Distraction burglaries: two men posing as water board staff",
        "body": "Ask for ID and call the water company before letting anyone in.",
        "category": "burglary",
        "severity": "severe",
        "urgency": "immediate",
        "certainty": "observed",
        "area": {"type": "Point", "coordinates": list(where), "radius_m": 1_000},
        "expires_at": (datetime.now(UTC) + timedelta(hours=12)).isoformat(),
        "actions": [{"text": "Check the ID of anyone claiming to be from a utility"}],
    }

    async def post() -> None:
        answer = await api.post("/v1/alerts", json=alert, headers=headers)
        assert answer.status_code == 201, answer.text

    return post


@dataclass(frozen=True)
class Run:
    first_s: float  # from the POST to the first push accepted
    last_s: float  # ... to the last
    rate: float  # pushes/s over that
    cpu_us: float  # CPU of the dispatching processes per push
    machine_us: float  # CPU of the whole machine per push (database, stand-in and all)
    cores_busy: float  # the machine's busy cores, on average, from the POST to the last push
    arrived: int
    distinct: int


async def through_the_dispatcher(
    backend: str,
    sender: str,
    fake_url: str,
    credentials_file: Path,
    residents: int,
    devices_each: int,
    workers: int = 1,
) -> Run:
    """One alert to every device through `nwatch serve` (SQLite: the dispatcher in it;
    PostgreSQL: `workers` of `nwatch worker`)."""
    total = residents * devices_each
    async with scratch_database(backend) as url:
        officer, _ = await seed(url, residents, devices_each)
        before = await stats(fake_url)
        port = free_port()
        env = {
            "NW_DATABASE_URL": url,
            "NW_JWT_SECRET": "bench-" + "s" * 40,
            "NW_LOG_LEVEL": "WARNING",
            "NW_VAR_DIR": tempfile.mkdtemp(prefix="nw-bench-"),
            "NW_FIREBASE_CREDENTIALS": str(credentials_file),
            "NW_FCM_ENDPOINT": fake_url,
            "NW_PUSH_SENDER": sender,
        }
        serve = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
        dispatching: list[asyncio.subprocess.Process] = []
        if backend == "postgres":
            for _ in range(workers):
                dispatching.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "app.cli", "worker", env={**os.environ, **env}
                    )
                )
        served: list[asyncio.subprocess.Process] = []
        try:
            async with (
                server(serve, env, port, served) as base,
                httpx.AsyncClient(base_url=base) as api,
            ):
                pids = [p.pid for p in (dispatching or served)]
                post_alert = await alert_poster(api, officer)
                await asyncio.sleep(1)  # the workers up and listening
                cpu_before, busy_before = cpu_seconds(pids), machine_busy_seconds()
                posted_at = time.time()
                await post_alert()
                done = await wait_for_accepted(fake_url, before["accepted"] + total)
                cpu = cpu_seconds(pids) - cpu_before
                busy = machine_busy_seconds() - busy_before
                busy_span = time.time() - posted_at
        finally:
            for process in dispatching:
                process.terminate()
                await process.wait()
    arrived = done["accepted"] - before["accepted"]
    if arrived < total:
        print(f"[{backend}] only {arrived:,} of {total:,} pushes arrived")
    first_s = done["first_accepted_at"] - posted_at  # a fresh stand-in for each run
    last_s = done["last_accepted_at"] - posted_at
    distinct = done["distinct_tokens"] - before["distinct_tokens"]
    per_push = 1e6 / max(arrived, 1)
    return Run(
        first_s,
        last_s,
        arrived / last_s,
        cpu * per_push,
        busy * per_push,
        busy / busy_span,
        arrived,
        distinct,
    )


async def direct(credentials_file: Path, fake_url: str, total: int) -> float:
    """firebase-admin alone: send_each_async in batches of 500. Returns pushes/s."""
    cert = credentials.Certificate(str(credentials_file))
    app = firebase_admin.initialize_app(cert, name=f"direct-{uuid.uuid4().hex}")
    service = messaging._get_messaging_service(app)
    service._fcm_url = f"{fake_url}/v1/projects/{cert.project_id}/messages:send"
    content = {
        "title": "Distraction burglaries: two men posing as water board staff",
        "body": "Ask for ID and call the water company before letting anyone in.",
        "severity": "severe",
        "collapse_key": str(uuid.uuid4()),
        "expires_at": (datetime.now(UTC) + timedelta(hours=12)).isoformat(),
        "data": {"alert_id": str(uuid.uuid4()), "type": "alert.issued"},
    }
    now = datetime.now(UTC)
    messages = [
        build_message(PushMessage(uuid.uuid4(), f"direct-{n}", "android", False, content), now)
        for n in range(total)
    ]
    await messaging.send_each_async(messages[:1], dry_run=False, app=app)  # sign in first
    before = (await stats(fake_url))["accepted"]
    started = time.perf_counter()
    failures = 0
    for i in range(0, total, 500):
        batch = await messaging.send_each_async(messages[i : i + 500], dry_run=False, app=app)
        failures += batch.failure_count
    seconds = time.perf_counter() - started
    accepted = (await stats(fake_url))["accepted"] - before
    await service._async_client.aclose()
    if failures:
        print(f"direct: {failures} failures")
    return float(accepted / seconds)


def report(backend: str, label: str, run: Run, total: int) -> None:
    print(
        f"[{backend}] {label}: {total:,} devices, {run.distinct:,} distinct received; first "
        f"push {run.first_s:.2f} s after the POST (goal < 1 s), last {run.last_s:.1f} s after "
        f"(goal < 25 s); {run.rate:,.0f} pushes/s (goal >= 4,000); {run.cpu_us:,.0f} us CPU "
        f"a push in the dispatching processes, {run.machine_us:,.0f} us in the whole machine "
        f"({run.cores_busy:.2f} of {os.cpu_count()} cores busy)",
        flush=True,
    )


async def run(
    backends: list[str], residents: int, devices_each: int, senders: list[str], two: bool
) -> None:
    total = residents * devices_each
    with tempfile.TemporaryDirectory() as directory:
        for backend in backends:
            for sender in senders:
                async with standin_fcm(Path(directory)) as (url, credentials_file):
                    one = await through_the_dispatcher(
                        backend, sender, url, credentials_file, residents, devices_each
                    )
                report(backend, f"dispatcher + {sender}", one, total)
                if backend == "postgres" and two:
                    async with standin_fcm(Path(directory)) as (url, credentials_file):
                        both = await through_the_dispatcher(
                            backend, sender, url, credentials_file, residents, devices_each, 2
                        )
                    report(backend, f"two workers + {sender}", both, total)
                    print(
                        f"[{backend}] two workers at {both.rate / one.rate:.2f}x one "
                        "(goal >= 1.4x)",
                        flush=True,
                    )
            async with standin_fcm(Path(directory)) as (url, credentials_file):
                floor = await direct(credentials_file, url, min(total, 20_000))
            print(
                f"[{backend}] firebase-admin send_each_async direct (no database): "
                f"{floor:,.0f} pushes/s; the dispatcher + {senders[0]} at {one.rate / floor:.1f}x "
                "of it (goal >= 5x)",
                flush=True,
            )
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--devices-each", type=int, default=10)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--senders", default="fcm", help="NW_PUSH_SENDER values to run, e.g. fcm,firebase-admin"
    )
    parser.add_argument("--no-two-workers", action="store_true")
    args = parser.parse_args()
    asyncio.run(
        run(
            args.backends.split(","),
            args.residents,
            args.devices_each,
            args.senders.split(","),
            not args.no_two_workers,
        )
    )


if __name__ == "__main__":
    main()
