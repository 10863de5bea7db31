"""Importing police.uk street-level CSV: `import_files` against a bare insert.

Generates N rows in the published CSV format (one force, twelve months, points spread
over London), then in the same run on each backend:
- the import as `nwatch import-police-data` does it (stream, parse, map, write rows and
  their geo index entries BATCH at a time);
- the floor: the same rows, already parsed, inserted into `police_crimes` by a bare
  Core `executemany` in the same batches (no parsing, no geo index).
Prints rows/s of each, the ratio, and the peak growth of the process's resident memory
during the import, for the whole file and for a fifth of it: flat memory means the two
peaks are alike.

    .venv/bin/python -m bench.police_import [--rows N] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import insert

from app.db import create_engine, create_sessionmaker, utcnow
from app.evidence.importer import BATCH, import_files
from app.evidence.models import PoliceCrime
from app.evidence.police_data import CSV_HEADER
from app.settings import Settings
from bench.common import scratch_database

TYPES = ["Anti-social behaviour", "Burglary", "Vehicle crime", "Violence and sexual offences",
         "Other theft", "Shoplifting", "Criminal damage and arson", "Public order"]  # fmt: skip
FORCE = "Metropolitan Police Service"


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w") as out:
        out.write(CSV_HEADER)
        for i in range(rows):
            month = f"2024-{i % 12 + 1:02d}"
            crime_id = "" if i % 5 == 0 else uuid.UUID(int=rng.getrandbits(128)).hex
            out.write(
                f"{crime_id},{month},{FORCE},{FORCE},{-0.12 + rng.gauss(0, 0.08):.6f},"
                f"{51.5 + rng.gauss(0, 0.05):.6f},On or near Elm Street,E0100{i % 4000:04d},"
                f"Somewhere {i % 4000},{TYPES[i % len(TYPES)]},Under investigation,\n"
            )


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@contextlib.asynccontextmanager
async def peak_rss_growth() -> AsyncIterator[list[int]]:
    """Samples resident memory every 20 ms; yields a list whose one item is the peak
    growth in KiB once the block ends."""
    start, peak, done = rss_kib(), [0], asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib() - start)
            await asyncio.sleep(0.02)

    task = asyncio.create_task(sample())
    try:
        yield peak
    finally:
        done.set()
        await task
        peak[0] = max(peak[0], rss_kib() - start)


async def imported(url: str, csv: Path) -> tuple[float, int]:
    engine = create_engine(Settings(database_url=url, jwt_secret=SecretStr("b" * 40)))
    try:
        async with peak_rss_growth() as peak:
            started = time.perf_counter()
            summary = await import_files(create_sessionmaker(engine), [csv])
            seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    return summary.rows / seconds, peak[0]


async def bare(url: str, rows: int, seed: int = 7) -> float:
    """The same number of rows, built in memory beforehand, by executemany."""
    rng = random.Random(seed)
    now = utcnow()
    values = [
        {
            "id": uuid.uuid4(),
            "month": date(2024, i % 12 + 1, 1),
            "force": FORCE,
            "crime_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "crime_type": TYPES[i % len(TYPES)],
            "category": "burglary",
            "lon": -0.12 + rng.gauss(0, 0.08),
            "lat": 51.5 + rng.gauss(0, 0.05),
            "outcome": "Under investigation",
            "imported_at": now,
        }
        for i in range(rows)
    ]
    engine = create_engine(Settings(database_url=url, jwt_secret=SecretStr("b" * 40)))
    sessions = create_sessionmaker(engine)
    try:
        started = time.perf_counter()
        for start in range(0, rows, BATCH):
            async with sessions() as session, session.begin():
                await session.execute(insert(PoliceCrime.__table__), values[start : start + BATCH])
        seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    return rows / seconds


async def run(backends: list[str], rows: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        whole, fifth = Path(directory) / "whole.csv", Path(directory) / "fifth.csv"
        generate(whole, rows)
        generate(fifth, rows // 5)
        size_mb = whole.stat().st_size / 1e6
        for backend in backends:
            # The fifth first: the first import in a process also grows by what warms up
            # (compiled statements, imported modules), which is not the file's doing.
            async with scratch_database(backend) as url:
                _, small_peak = await imported(url, fifth)
            async with scratch_database(backend) as url:
                rate, peak = await imported(url, whole)
            async with scratch_database(backend) as url:
                floor = await bare(url, rows)
            print(
                f"[{backend}] {rows:,} rows ({size_mb:.0f} MB): import {rate:,.0f} rows/s, bare "
                f"executemany {floor:,.0f} rows/s: {rate / floor:.0%} of it (goal >= 50%); "
                f"peak memory growth {peak / 1024:.1f} MiB, {small_peak / 1024:.1f} MiB for a "
                "fifth of the file",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    asyncio.run(run(args.backends.split(","), args.rows))


if __name__ == "__main__":
    main()
