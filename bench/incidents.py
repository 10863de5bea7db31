"""Sustained POST /v1/incidents through a real uvicorn server, against a bare endpoint.

For each backend, the API runs as `nwatch serve` in its own process on a fresh,
migrated database; 50 concurrent clients (asyncio + httpx, in this process) submit
reports with an Idempotency-Key for --seconds, then do the same against a FastAPI app
that returns a constant (bench/bare_app.py), served by uvicorn the same way. Prints
requests/s, p50 and p99 for both and their ratio.

    .venv/bin/python -m bench.incidents [--seconds 30] [--clients 50]

The load comes from wrk (`apt-get install wrk`) when it is installed: a Python client
saturates before a bare FastAPI endpoint does, which would flatter the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx

from bench.common import percentile, scratch_database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def server(
    command: list[str],
    env: dict[str, str],
    port: int,
    started: list[asyncio.subprocess.Process] | None = None,
) -> AsyncIterator[str]:
    """The server's base URL once it answers; its process is added to `started`."""
    process = await asyncio.create_subprocess_exec(
        *command,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    if started is not None:
        started.append(process)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    await client.get(f"{base}/openapi.json", timeout=1)
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=20)


async def load(
    url: str, headers_for: list[dict[str, str]], body: dict[str, object] | None, seconds: float
) -> tuple[int, list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=len(headers_for))

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker(headers: dict[str, str]) -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                request_headers = {**headers, "Idempotency-Key": uuid.uuid4().hex}
                started = time.perf_counter()
                answer = await client.post(url, headers=request_headers, json=body or {})
                latencies.append(time.perf_counter() - started)
                if answer.status_code != 201:
                    errors += 1

        await asyncio.gather(*(worker(h) for h in headers_for))
    return len(latencies), latencies, errors


# Each wrk thread has its own Lua state with the same random sequence: without the
# thread's number in the key, the threads send the same keys and half the requests are
# idempotent replays (measured: about 1,575 requests in 5 s made 822 reports).
WRK_SCRIPT = """
tokens = {%(tokens)s}
body = [[%(body)s]]
counter = 0
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
init = function(args)
  math.randomseed(%(seed)d + tid)
end
request = function()
  counter = counter + 1
  local headers = {["Content-Type"] = "application/json",
                   ["Idempotency-Key"] = string.format("%%d-%%d-%%d-%%d", %(seed)d, tid,
                                                       counter, math.random(1, 2147483647))}
  if #tokens > 0 then
    headers["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]
  end
  return wrk.format("POST", nil, headers, body)
end
done = function(summary, latency, requests)
  io.write(string.format("WRK %%d %%d %%f %%f %%d\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.duration))
end
"""


async def load_wrk(
    url: str, tokens: list[str], body: dict[str, object] | None, seconds: float, clients: int
) -> tuple[float, float, float, int]:
    """requests/s, p50 ms, p99 ms, errors — measured by wrk, a C load generator."""
    import json
    import random

    script = WRK_SCRIPT % {
        "tokens": ", ".join(f'"{t}"' for t in tokens),
        "body": json.dumps(body or {}),
        "seed": random.randrange(1_000_000),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    process = await asyncio.create_subprocess_exec(
        "wrk",
        "-t2",
        f"-c{clients}",
        f"-d{int(seconds)}s",
        "--timeout",
        "10s",
        "-s",
        f.name,
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    line = next(x for x in out.decode().splitlines() if x.startswith("WRK "))
    _, requests, errors, p50, p99, duration_us = line.split()
    return (int(requests) / (int(duration_us) / 1e6), float(p50), float(p99), int(errors))


def line(name: str, count: int, latencies: list[float], errors: int, seconds: float) -> str:
    return (
        f"{name}: {count / seconds:,.0f} req/s, p50 {percentile(latencies, 50) * 1000:.1f} ms,"
        f" p99 {percentile(latencies, 99) * 1000:.1f} ms, errors {errors}"
    )


async def run(backend: str, seconds: float, clients: int) -> None:
    async with scratch_database(backend) as url:
        port = free_port()
        env = {
            "NW_DATABASE_URL": url,
            "NW_JWT_SECRET": "bench-" + "s" * 40,
            "NW_INCIDENTS_PER_HOUR": "100000000",
            # Every bench client is on 127.0.0.1: one address for all of them.
            "NW_INCIDENTS_PER_ADDRESS_PER_HOUR": "100000000",
            "NW_REGISTRATIONS_PER_ADDRESS_PER_HOUR": "1000",
            "NW_PASSWORD_HASH_TIME_COST": "1",
            "NW_PASSWORD_HASH_MEMORY_KIB": "8192",
            "NW_LOG_LEVEL": "WARNING",
            "NW_VAR_DIR": tempfile.mkdtemp(prefix="nw-bench-"),
        }
        command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
        async with server(command, env, port) as base, httpx.AsyncClient(base_url=base) as api:
            headers = []
            for i in range(clients):
                email = f"bench{i}@example.org"
                await api.post(
                    "/v1/auth/register",
                    json={"email": email, "password": "correct horse battery", "display_name": "b"},
                )
                token = (
                    await api.post(
                        "/v1/auth/token",
                        data={
                            "grant_type": "password",
                            "username": email,
                            "password": "correct horse battery",
                        },
                    )
                ).json()["access_token"]
                headers.append({"Authorization": f"Bearer {token}"})
            body = {
                "category": "burglary",
                "description": "Shed broken into",
                "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
                "location": {"type": "Point", "coordinates": [-0.1276, 51.5072]},
                "accuracy_m": 10,
                "anonymous": True,
            }
            if shutil.which("wrk"):
                tokens = [h["Authorization"].removeprefix("Bearer ") for h in headers]
                api_rate, p50, api_p99_ms, errors = await load_wrk(
                    f"{base}/v1/incidents", tokens, body, seconds, clients
                )
                summary_line = (
                    f"POST /v1/incidents (wrk): {api_rate:,.0f} req/s, "
                    f"p50 {p50:.1f} ms, p99 {api_p99_ms:.1f} ms, errors {errors}"
                )
                api_p99 = api_p99_ms / 1000
            else:
                count, latencies, errors = await load(
                    f"{base}/v1/incidents", headers, body, seconds
                )
                api_rate = count / seconds
                api_p99 = percentile(latencies, 99)
                summary_line = line("POST /v1/incidents (httpx)", count, latencies, errors, seconds)
        print(f"[{backend}] {summary_line}", flush=True)

    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.bare_app:app",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    async with server(command, {}, port) as base:
        if shutil.which("wrk"):
            bare_rate, p50, p99_ms, errors = await load_wrk(
                f"{base}/bare", [], None, seconds, clients
            )
            print(
                f"[{backend}] bare FastAPI endpoint (wrk): {bare_rate:,.0f} req/s, "
                f"p50 {p50:.1f} ms, p99 {p99_ms:.1f} ms, errors {errors}"
            )
        else:
            count, latencies, errors = await load(f"{base}/bare", [{}] * clients, None, seconds)
            bare_rate = count / seconds
            bare_line = line("bare FastAPI endpoint (httpx)", count, latencies, errors, seconds)
            print(f"[{backend}] {bare_line}")
    print(
        f"[{backend}] throughput ratio {api_rate / bare_rate:.0%} of the bare endpoint"
        f" (goal >= 30%), API p99 {api_p99 * 1000:.1f} ms (goal < 100 ms)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        asyncio.run(run(backend, args.seconds, args.clients))


if __name__ == "__main__":
    main()
