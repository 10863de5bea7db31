"""SQLite statements run on the event loop's thread, except those that may take long
(app.sqlite_loop)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import create_engine
from app.settings import Settings
from app.sqlite_loop import offloaded, wal_checkpoints

# Filled by SQLite itself, from whichever thread runs each statement.
Trace = list[tuple[str, int]]


@pytest.fixture
async def traced(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, Trace, threading.Event]]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'loop.db'}",
        jwt_secret=SecretStr("t" * 40),
        sqlite_busy_timeout_ms=2000,
    )
    engine = create_engine(settings)
    trace: Trace = []
    gate = threading.Event()

    @event.listens_for(engine.sync_engine, "connect")
    def _instrument(dbapi_connection: Any, _record: Any) -> None:
        raw: sqlite3.Connection = dbapi_connection.driver_connection._conn
        raw.set_trace_callback(lambda sql: trace.append((sql, threading.get_ident())))
        # Blocks its thread until the loop opens the gate; 0 if it stayed shut.
        raw.create_function("wait_for_loop", 1, lambda seconds: int(gate.wait(timeout=seconds)))

    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (n INTEGER NOT NULL)")
    trace.clear()
    yield engine, trace, gate
    await engine.dispose()


def _threads(trace: Trace, sql: str) -> set[int]:
    return {thread for statement, thread in trace if statement.startswith(sql)}


async def test_statements_run_on_the_loop_thread(
    traced: tuple[AsyncEngine, Trace, threading.Event],
) -> None:
    engine, trace, _ = traced
    async with engine.begin() as conn:
        await conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        await conn.exec_driver_sql("SELECT n FROM t")
    loop_thread = threading.get_ident()
    assert _threads(trace, "BEGIN IMMEDIATE") == {loop_thread}
    assert _threads(trace, "INSERT") == {loop_thread}
    assert _threads(trace, "SELECT") == {loop_thread}
    # COMMIT writes the log, and may wait for the disk: not on the loop.
    commits = _threads(trace, "COMMIT")
    assert commits
    assert loop_thread not in commits


async def test_a_writer_waits_for_another_process_off_the_loop(
    traced: tuple[AsyncEngine, Trace, threading.Event], tmp_path: Path
) -> None:
    engine, trace, _ = traced
    # Another process's writer (a connection outside the engine's turns) holds the lock.
    other = sqlite3.connect(tmp_path / "loop.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def write() -> None:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("INSERT INTO t VALUES (2)")

    loop = asyncio.get_running_loop()
    started = loop.time()
    writer = asyncio.create_task(write())
    # Had the writer waited in SQLite's busy handler on the loop, the loop would be held
    # for the whole busy timeout (2 s, above) before this sleep could end.
    await asyncio.sleep(0.05)
    assert loop.time() - started < 1
    assert not writer.done()
    other.execute("COMMIT")
    other.close()
    await writer
    loop_thread = threading.get_ident()
    # Tried in place once, then waited for on the connection's thread.
    assert [t == loop_thread for sql, t in trace if sql.startswith("BEGIN IMMEDIATE")] == [
        True,
        False,
    ]
    async with engine.connect() as conn:
        assert (await conn.exec_driver_sql("SELECT n FROM t")).scalars().all() == [2]


async def test_offloaded_statements_leave_the_loop_free(
    traced: tuple[AsyncEngine, Trace, threading.Event],
) -> None:
    engine, trace, gate = traced

    async def open_gate() -> None:
        gate.set()

    async with engine.connect() as conn:
        with offloaded():
            opener = asyncio.create_task(open_gate())
            # The statement waits for the loop to run `open_gate`: it can only do so if
            # the loop is not the thread running it.
            opened = (await conn.exec_driver_sql("SELECT wait_for_loop(10)")).scalar_one()
        await opener
        assert opened == 1
        assert threading.get_ident() not in _threads(trace, "SELECT wait_for_loop")

        # Outside the block, the same statement holds the loop: the gate stays shut.
        gate.clear()
        opener = asyncio.create_task(open_gate())
        assert (await conn.exec_driver_sql("SELECT wait_for_loop(0.2)")).scalar_one() == 0
        await opener


async def _write_10_mb(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE blob (b BLOB)")
    for _ in range(10):  # SQLite's own checkpoint runs at 1,000 pages (4 MB) of log
        async with engine.begin() as conn:
            await conn.exec_driver_sql("INSERT INTO blob VALUES (zeroblob(1000000))")


@pytest.mark.parametrize("checkpointer", [True, False])
async def test_checkpoints_happen_off_the_commits_only_with_a_checkpointer(
    tmp_path: Path, checkpointer: bool
) -> None:
    path = tmp_path / "wal.db"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{path}", jwt_secret=SecretStr("t" * 40))
    engine = create_engine(settings, checkpoints_in_commits=not checkpointer)
    try:
        await _write_10_mb(engine)
        if not checkpointer:  # a plain engine: SQLite checkpoints inside the commits
            assert path.stat().st_size > 4_000_000
            return
        assert path.stat().st_size < 1_000_000  # still all in the log

        async with wal_checkpoints(str(path), every_s=0.01):
            for _ in range(500):
                if path.stat().st_size > 10_000_000:
                    break
                await asyncio.sleep(0.01)
        assert path.stat().st_size > 10_000_000  # copied back by the checkpointer
        async with engine.connect() as conn:
            rows = await conn.exec_driver_sql("SELECT count(*) FROM blob")
            assert rows.scalar_one() == 10
    finally:
        await engine.dispose()
