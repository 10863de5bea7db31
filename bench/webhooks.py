"""One alert to 1,000 webhook subscriptions while it is pushed to 10,000 phones.

The API runs as `nwatch serve` (SQLite: the channels in-process; PostgreSQL: a `nwatch
worker`), its pushes going to the FCM stand-in (bench/fcm_standin.py) and its webhooks to
a receiver on loopback (bench/webhook_receiver.py, allowed by NW_WEBHOOK_ALLOWED_HOSTS)
that verifies every signature with the Standard Webhooks library; both in processes of
their own. The 1,000 subscriptions belong to 50 API clients (20 each, the cap), each
with its own secret. The bench POSTs one alert over every resident and every client's
reach, and reads from the receiver when the first and the last webhook arrived.

Baseline, in the same run: the same 1,000 deliveries (bodies of the same size, signed
the same way) POSTed straight to the receiver with httpx, 10 and then 100 at a time, the
better of the two: what a client alone manages here, with no database, no claims and no
records.

    .venv/bin/python -m bench.webhooks [--backends sqlite,postgres] [--subscriptions N]
        [--residents N] [--devices-each N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import insert

from app.auth.models import ApiClient
from app.db import create_engine, create_sessionmaker
from app.settings import Settings
from app.webhooks import signing
from app.webhooks.models import WebhookSubscription
from bench.common import scratch_database
from bench.incidents import free_port, server
from bench.push_fanout import alert_poster, seed, standin_fcm, stats, wait_for_accepted

PER_CLIENT = 20


@contextlib.asynccontextmanager
async def webhook_receiver() -> AsyncIterator[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.webhook_receiver", stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    url = (await process.stdout.readline()).decode().strip()
    try:
        yield url
    finally:
        process.terminate()
        await process.wait()


async def receiver_stats(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        answer: dict[str, Any] = (await client.get(f"{url}/_stats")).json()
        return answer


async def subscribe_all(url: str, receiver: str, count: int) -> dict[str, str]:
    """`count` subscriptions, PER_CLIENT to an API client, written straight to the
    database (the API's creation limits are not what is measured). Path → secret."""
    settings = Settings(database_url=url, jwt_secret=SecretStr("b" * 32))
    engine = create_engine(settings)
    secrets: dict[str, str] = {}
    clients: list[dict[str, Any]] = []
    subs: list[dict[str, Any]] = []
    for n in range(count):
        if n % PER_CLIENT == 0:
            clients.append(
                {
                    "id": uuid.uuid4(),
                    "name": f"bench client {len(clients)}",
                    "scopes": ["webhooks"],
                    "secret_hash": "0" * 64,
                }
            )
        path = f"/hook/{n}"
        secret = signing.new_secret()
        secrets[path] = secret
        subs.append(
            {
                "id": uuid.uuid4(),
                "client_id": clients[-1]["id"],
                "url": f"{receiver}{path}",
                "events": ["alert.issued"],
                "secret": secret,
            }
        )
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            await session.execute(insert(ApiClient), clients)
            await session.execute(insert(WebhookSubscription), subs)
    finally:
        await engine.dispose()
    async with httpx.AsyncClient() as client:
        await client.post(f"{receiver}/_secrets", json=secrets)
    return secrets


async def wait_for_webhooks(url: str, count: int, patience_s: float = 120) -> dict[str, Any]:
    give_up = time.monotonic() + patience_s
    while True:
        now = await receiver_stats(url)
        if now["verified"] + now["refused"] >= count or time.monotonic() > give_up:
            return now
        await asyncio.sleep(0.05)


@dataclass(frozen=True)
class Run:
    first_s: float  # POST → first webhook verified
    last_s: float  # POST → last
    rate: float  # deliveries/s, first to last
    verified: int
    refused: int
    distinct: int
    pushes: int
    pushes_last_s: float


async def through_the_channel(
    backend: str, receiver: str, subscriptions: int, residents: int, devices_each: int
) -> tuple[Run, dict[str, str]]:
    with tempfile.TemporaryDirectory() as directory:
        async with (
            scratch_database(backend) as url,
            standin_fcm(Path(directory)) as (fcm_url, credentials_file),
        ):
            officer, _ = await seed(url, residents, devices_each)
            secrets = await subscribe_all(url, receiver, subscriptions)
            port = free_port()
            env = {
                "NW_DATABASE_URL": url,
                "NW_JWT_SECRET": "bench-" + "s" * 40,
                "NW_LOG_LEVEL": "WARNING",
                "NW_VAR_DIR": directory,
                "NW_FIREBASE_CREDENTIALS": str(credentials_file),
                "NW_FCM_ENDPOINT": fcm_url,
                "NW_PUSH_SENDER": "fcm",
                "NW_WEBHOOK_ALLOWED_HOSTS": receiver.split("//", 1)[1],
            }
            worker: asyncio.subprocess.Process | None = None
            if backend == "postgres":
                worker = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "app.cli", "worker", env={**os.environ, **env}
                )
            serve = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
            try:
                async with (
                    server(serve, env, port) as base,
                    httpx.AsyncClient(base_url=base) as api,
                ):
                    post_alert = await alert_poster(api, officer)
                    await asyncio.sleep(1)  # the channels up and listening
                    async with httpx.AsyncClient() as client:
                        await client.post(f"{receiver}/_reset")
                    pushes_before = (await stats(fcm_url))["accepted"]
                    posted_at = time.time()
                    await post_alert()
                    hooks = await wait_for_webhooks(receiver, subscriptions)
                    total = residents * devices_each
                    pushed = await wait_for_accepted(fcm_url, pushes_before + total, 120)
            finally:
                if worker is not None:
                    worker.terminate()
                    await worker.wait()
    first_s = (hooks["first_at"] or posted_at) - posted_at
    last_s = (hooks["last_at"] or posted_at) - posted_at
    span = max(last_s - first_s, 1e-6)
    run = Run(
        first_s,
        last_s,
        hooks["verified"] / span,
        hooks["verified"],
        hooks["refused"],
        hooks["distinct_ids"],
        pushed["accepted"] - pushes_before,
        (pushed["last_accepted_at"] or posted_at) - posted_at,
    )
    return run, secrets


async def direct(receiver: str, secrets: dict[str, str], in_flight: int = 100) -> float:
    """The same deliveries straight from httpx, signed the same way. Deliveries/s."""
    body = json.dumps(
        {"type": "alert.issued", "timestamp": "2026-12-01T00:00:00Z", "data": {"id": "x" * 900}}
    ).encode()
    keys = {path: signing.secret_key(secret) for path, secret in secrets.items()}
    async with httpx.AsyncClient() as client:
        await client.post(f"{receiver}/_reset")
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    gate = asyncio.Semaphore(in_flight)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(path: str) -> None:
            async with gate:
                headers = signing.signed_headers(
                    [keys[path]], f"msg_{uuid.uuid4().hex}", int(time.time()), body
                )
                headers["content-type"] = "application/json"
                answer = await client.post(f"{receiver}{path}", content=body, headers=headers)
                assert answer.status_code == 204, answer.status_code

        started = time.perf_counter()
        await asyncio.gather(*(one(path) for path in secrets))
        seconds = time.perf_counter() - started
    return len(secrets) / seconds


async def run(backends: list[str], subscriptions: int, residents: int, devices_each: int) -> None:
    load = os.getloadavg()[0]
    print(f"load average before: {load:.2f} on {os.cpu_count()} cores (a shared machine)")
    async with webhook_receiver() as receiver:
        for backend in backends:
            channel, secrets = await through_the_channel(
                backend, receiver, subscriptions, residents, devices_each
            )
            # httpx's pool does worse with many requests in flight: the better of two.
            baseline = max([await direct(receiver, secrets, n) for n in (10, 100)])
            print(
                f"[{backend}] {channel.verified:,} of {subscriptions:,} webhooks verified "
                f"({channel.refused} refused, {channel.distinct:,} distinct webhook-ids); first "
                f"{channel.first_s:.2f} s after the POST (goal <= 1 s), last "
                f"{channel.last_s:.2f} s; {channel.rate:,.0f} deliveries/s against "
                f"{baseline:,.0f}/s straight from httpx: {channel.rate / baseline:.0%} (goal >= "
                f"50 %); meanwhile {channel.pushes:,} pushes, the last {channel.pushes_last_s:.1f}"
                " s after the POST",
                flush=True,
            )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--subscriptions", type=int, default=1_000)
    parser.add_argument("--residents", type=int, default=1_000)
    parser.add_argument("--devices-each", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(
        run(args.backends.split(","), args.subscriptions, args.residents, args.devices_each)
    )


if __name__ == "__main__":
    main()
