"""Engine, declarative base, shared column types and the per-request session.

One `AsyncSession` per request and one transaction: services `flush()`, the session
dependency commits once before the response is sent and rolls back on any error.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import JSON, DateTime, MetaData, event, make_url
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_

from app.settings import Settings
from app.sqlite_loop import loop_connect

# Deterministic constraint names, so that migrations can refer to them on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    SQLite keeps no offset, so values are normalised to UTC on the way in and marked as
    UTC on the way out; naive datetimes are refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")


def raw_uuid(session: AsyncSession, value: uuid.UUID) -> Any:
    """A UUID as raw SQL must bind it: what the Uuid type stores on each backend
    (32 hex digits on SQLite, a native uuid on PostgreSQL)."""
    return value.hex if session.get_bind().dialect.name == "sqlite" else value


def insert_for(session: AsyncSession, table: Any) -> PgInsert | SqliteInsert:
    """An INSERT in the session's dialect, for its ON CONFLICT clauses."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def _sqlite_pragmas(settings: Settings) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook issue BEGIN itself (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Reads by rowid and index all over a large file (the recipients of an alert):
        # served from memory-mapped pages, not a read() per page through a 2 MB cache.
        cursor.execute(f"PRAGMA mmap_size={int(settings.sqlite_mmap_mib) * 1024 * 1024}")
        cursor.execute(f"PRAGMA cache_size=-{int(settings.sqlite_cache_mib) * 1024}")
        cursor.close()

    return on_connect


def create_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        database = make_url(settings.database_url).database or ""
        timeout = settings.sqlite_busy_timeout_ms / 1000

        async def connect() -> Any:
            return await loop_connect(database, timeout=timeout)

        engine = create_async_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            async_creator=connect,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(settings))

        # A deferred transaction that later writes can fail at once with "database is
        # locked" when another writer got there first; taking the write lock at BEGIN
        # makes concurrent writers queue instead.
        turns = WriteTurns(settings.sqlite_busy_timeout_ms / 1000)

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            # Read-only work (see `reading`) need not queue behind writers: WAL readers
            # see the last commit without the write lock.
            if conn.get_execution_options().get(READ_ONLY_OPTION):
                conn.exec_driver_sql("BEGIN")
                return
            turns.take(conn.info)
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        @event.listens_for(engine.sync_engine.pool, "checkin")
        def _checked_in(_dbapi_connection: Any, record: Any) -> None:
            turns.give_back(record.info)

        @event.listens_for(engine.sync_engine.pool, "invalidate")
        def _invalidated(_dbapi_connection: Any, record: Any, _exc: Any) -> None:
            turns.give_back(record.info)

        return engine
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
    )


READ_ONLY_OPTION = "nw_read_only"
_TURN = "nw_write_turn"


class WriteTurns:
    """SQLite writers of this process take turns, first come first served.

    Left to SQLite, a writer that finds the lock taken sleeps in its busy handler (1, 2,
    5, 10 ... 100 ms) and tries again, so under load the lock stays free between
    holders while the next one sleeps, and an unlucky one waits seconds
    (bench/incidents.py: p99 2.6 s; the dispatcher's expansion, taking the lock again
    right after each slice, held off its senders: a first push 4.4 s after the POST).
    Here a transaction waits on an asyncio lock before BEGIN IMMEDIATE and holds it
    until its connection goes back to the pool,
    after COMMIT or ROLLBACK has returned. Other processes still meet the busy handler.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        # One lock per event loop: tests run several loops against one engine.
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def take(self, info: dict[str, Any]) -> None:
        """Wait for the turn (from the greenlet that runs the BEGIN)."""
        if _TURN in info:
            return  # this connection's previous transaction still holds it
        lock = self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        await_(self._acquire(lock))
        info[_TURN] = lock

    async def _acquire(self, lock: asyncio.Lock) -> None:
        try:
            async with asyncio.timeout(self.timeout_s):
                await lock.acquire()
        except TimeoutError:
            # What SQLite's busy handler would have said after as long.
            raise sqlite3.OperationalError("database is locked") from None

    @staticmethod
    def give_back(info: dict[str, Any]) -> None:
        lock = info.pop(_TURN, None)
        if lock is not None:
            lock.release()


@asynccontextmanager
async def reading(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session for reads only: on SQLite it does not take the write lock."""
    async with sessionmaker() as session:
        await session.connection(execution_options={READ_ONLY_OPTION: True})
        yield session


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function": the commit above runs before the response is sent, so a 2xx never
# goes out for a write that then fails to commit.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
