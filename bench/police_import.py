"""Importing police.uk street-level CSV: `import_files` against a bare insert.

Generates N rows in the published CSV format (one force, twelve months, points spread
over London), then in the same run on each backend:
- the import as `nwatch import-police-data` does it (stream, parse, map, compute each
  point's grid cell, write the rows BATCH at a time);
- the floor: the same rows, already parsed and with their cells, inserted into
  `police_crimes` (its indexes, the cell's among them, as the import has them) by a bare
  Core `executemany` in the same batches: the goal is at least half its rate;
- for reference, the same at the driver (`exec_driver_sql` with tuples: what SQLite's
  or asyncpg's own executemany does, without SQLAlchemy's per-row parameter work). The
  import passes its rows to the driver that way (as arrays on PostgreSQL), so this says
  how far it is from the cheapest insert of the same rows;
- and the bare executemany again into the table without the grid cell's index: the
  floor had the points no spatial index at all (the grid's B-tree costs a random-page
  insert per row, where the other indexes append), a stricter measure than the goal's.
Prints rows/s of each, the ratios, and the peak growth of the process's resident memory
during the import (allocated, and file-backed pages mapped), for the whole file and for
a fifth of it: flat memory means the two peaks are alike. The rates depend on what else
runs on the machine: the load is printed with them.

    .venv/bin/python -m bench.police_import [--rows N] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import insert, text

from app.db import create_engine, create_sessionmaker, ordered_id, utcnow
from app.evidence.importer import BATCH, import_files
from app.evidence.models import PoliceCrime
from app.evidence.police_data import CSV_HEADER
from app.geo.grid import cell
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


def rss_kib() -> tuple[int, int]:
    """Resident memory: anonymous (what the process allocates) and file-backed (on
    SQLite mostly the memory-mapped database, NW_SQLITE_MMAP_MIB: the OS's page cache of
    a file that grows with what was imported, not with the file being read)."""
    fields = dict.fromkeys(("RssAnon", "RssFile"), 0)
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in fields:
            fields[name] = int(value.split()[0])
    return fields["RssAnon"], fields["RssFile"]


@contextlib.asynccontextmanager
async def peak_rss_growth() -> AsyncIterator[list[int]]:
    """Samples resident memory every 20 ms; yields a list holding, once the block ends,
    the peak growth in KiB of anonymous and of file-backed memory."""
    start, peak, done = rss_kib(), [0, 0], asyncio.Event()

    def take() -> None:
        now = rss_kib()
        peak[0] = max(peak[0], now[0] - start[0])
        peak[1] = max(peak[1], now[1] - start[1])

    async def sample() -> None:
        while not done.is_set():
            take()
            await asyncio.sleep(0.02)

    task = asyncio.create_task(sample())
    try:
        yield peak
    finally:
        done.set()
        await task
        take()


async def imported(url: str, csv: Path) -> tuple[float, list[int]]:
    engine = create_engine(Settings(database_url=url, jwt_secret=SecretStr("b" * 40)))
    try:
        async with peak_rss_growth() as peak:
            started = time.perf_counter()
            summary = await import_files(create_sessionmaker(engine), [csv])
            seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    return summary.rows / seconds, peak


async def bare(url: str, rows: int, seed: int = 7, *, without_grid: bool = False) -> float:
    """The same number of rows, built in memory beforehand, by executemany; into a table
    without its grid cell's index if `without_grid` (the floor of rows that no spatial
    index finds: what the table was when the points' index was a separate one)."""
    values = _values(rows, seed)
    engine = create_engine(Settings(database_url=url, jwt_secret=SecretStr("b" * 40)))
    sessions = create_sessionmaker(engine)
    try:
        if without_grid:
            async with sessions() as session, session.begin():
                await session.execute(text("DROP INDEX ix_police_crimes_cell_month"))
        started = time.perf_counter()
        for start in range(0, rows, BATCH):
            async with sessions() as session, session.begin():
                await session.execute(insert(PoliceCrime.__table__), values[start : start + BATCH])
        seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    return rows / seconds


def _values(rows: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now = utcnow()
    values: list[dict[str, Any]] = [
        {
            "id": ordered_id(),  # as the import makes them: the same rows
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
    for v in values:
        v["cell"] = cell(v["lon"], v["lat"])
    return values


async def bare_driver(url: str, rows: int, seed: int = 7) -> float:
    """The same rows as `bare`, as tuples straight to the driver's executemany."""
    engine = create_engine(Settings(database_url=url, jwt_secret=SecretStr("b" * 40)))
    table = PoliceCrime.__table__
    names = [c.name for c in table.c]
    values = [tuple(v[n] for n in names) for v in _values(rows, seed)]
    dialect = engine.dialect
    if dialect.name == "sqlite":
        processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in table.c]
        values = [
            tuple(p(x) if p else x for p, x in zip(processors, row, strict=True)) for row in values
        ]
    marks = (
        ["?"] * len(names) if dialect.name == "sqlite" else [f"${n + 1}" for n in range(len(names))]
    )
    sql = f"INSERT INTO police_crimes ({', '.join(names)}) VALUES ({', '.join(marks)})"
    try:
        sessions = create_sessionmaker(engine)
        started = time.perf_counter()
        for start in range(0, rows, BATCH):
            async with sessions() as session, session.begin():
                connection = await session.connection()
                await connection.exec_driver_sql(sql, values[start : start + BATCH])
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
            async with scratch_database(backend) as url:
                driver = await bare_driver(url, rows)
            async with scratch_database(backend) as url:
                no_grid = await bare(url, rows, without_grid=True)
            load = os.getloadavg()[0]
            print(
                f"[{backend}] {rows:,} rows ({size_mb:.0f} MB), load {load:.1f}: import "
                f"{rate:,.0f} rows/s, bare executemany {floor:,.0f} rows/s: {rate / floor:.0%} "
                f"of it (goal >= 50%); at the driver {driver:,.0f} rows/s: {rate / driver:.0%} "
                f"of it; bare executemany without the grid's index {no_grid:,.0f} rows/s: "
                f"{rate / no_grid:.0%} of it; peak memory growth {peak[0] / 1024:.1f} MiB "
                f"allocated (+ "
                f"{peak[1] / 1024:.1f} MiB mapped), for a fifth of the file "
                f"{small_peak[0] / 1024:.1f} MiB (+ {small_peak[1] / 1024:.1f} MiB)",
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
