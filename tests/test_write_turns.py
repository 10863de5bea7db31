"""SQLite writers of one process take turns (app.db.WriteTurns)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import URGENT_OPTION, create_engine, create_sessionmaker, reading
from app.settings import Settings


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}",
        jwt_secret=SecretStr("t" * 40),
        sqlite_busy_timeout_ms=300,
    )
    engine = create_engine(settings)
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE counter (n INTEGER NOT NULL)")
        await conn.exec_driver_sql("INSERT INTO counter VALUES (0)")
    yield engine
    await engine.dispose()


async def _holding_the_turn(engine: AsyncEngine, release: asyncio.Event) -> asyncio.Task[None]:
    """A writer that has taken the turn, and keeps it until `release` is set."""
    holding = asyncio.Event()

    async def hold() -> None:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("UPDATE counter SET n = n + 1")
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.wait_for(holding.wait(), 5)
    return holder


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.exec_driver_sql("SELECT n FROM counter")).scalar_one())


async def test_concurrent_read_modify_writes_all_count(engine: AsyncEngine) -> None:
    async def bump() -> None:
        async with engine.begin() as conn:
            n = (await conn.exec_driver_sql("SELECT n FROM counter")).scalar_one()
            await asyncio.sleep(0)  # another writer would get in here, were it allowed
            await conn.exec_driver_sql("UPDATE counter SET n = ?", (n + 1,))

    await asyncio.gather(*(bump() for _ in range(40)))
    assert await _count(engine) == 40


async def test_a_writer_waits_no_longer_than_the_busy_timeout(engine: AsyncEngine) -> None:

    release = asyncio.Event()
    holder = await _holding_the_turn(engine, release)
    with pytest.raises((OperationalError, sqlite3.OperationalError), match="database is locked"):
        async with engine.begin() as conn:
            await conn.exec_driver_sql("UPDATE counter SET n = n + 10")
    # Readers are not writers: they see the last commit without waiting for the turn.
    async with reading(create_sessionmaker(engine)) as session:
        assert (await session.execute(text("SELECT n FROM counter"))).scalar_one() == 0
    release.set()
    await holder
    async with engine.begin() as conn:  # the turn came back with the holder's connection
        await conn.exec_driver_sql("UPDATE counter SET n = n + 100")
    assert await _count(engine) == 101


async def test_the_turn_comes_back_after_a_rollback(engine: AsyncEngine) -> None:
    async def failing_work() -> None:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("UPDATE counter SET n = n + 1")
            raise RuntimeError("the work failed")

    with pytest.raises(RuntimeError):
        await failing_work()
    async with asyncio.timeout(5):
        async with engine.begin() as conn:
            await conn.exec_driver_sql("UPDATE counter SET n = n + 1")
    assert await _count(engine) == 1


async def test_urgent_writers_go_ahead_of_waiting_ones(engine: AsyncEngine) -> None:
    sessionmaker = create_sessionmaker(engine)
    order: list[str] = []

    async def write(name: str, urgent: bool) -> None:
        async with sessionmaker() as session, session.begin():
            await session.connection(execution_options={URGENT_OPTION: urgent})
            order.append(name)
            await session.execute(text("UPDATE counter SET n = n + 1"))

    release = asyncio.Event()
    holder = await _holding_the_turn(engine, release)
    writers = []
    for name, urgent in [("a", False), ("b", False), ("dispatcher", True), ("c", False)]:
        writers.append(asyncio.create_task(write(name, urgent)))
        await asyncio.sleep(0.01)  # queued in this order
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, *writers), 5)
    assert order == ["dispatcher", "a", "b", "c"]
    assert await _count(engine) == 5


async def test_a_writer_that_gives_up_leaves_the_queue_in_order(engine: AsyncEngine) -> None:
    order: list[str] = []

    async def write(name: str) -> None:
        async with engine.begin() as conn:
            order.append(name)
            await conn.exec_driver_sql("UPDATE counter SET n = n + 1")

    release = asyncio.Event()
    holder = await _holding_the_turn(engine, release)
    first = asyncio.create_task(write("first"))
    await asyncio.sleep(0.01)
    quitter = asyncio.create_task(write("quitter"))
    await asyncio.sleep(0.01)
    last = asyncio.create_task(write("last"))
    await asyncio.sleep(0.01)
    quitter.cancel()
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, first, last), 5)
    assert order == ["first", "last"]
    assert await _count(engine) == 3
