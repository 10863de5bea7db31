"""Engine, the base of table models, shared column types and the per-request session.

One `AsyncSession` per request and one transaction: services `flush()`, the session
dependency commits once before the response is sent and rolls back on any error.
"""

from __future__ import annotations

import itertools
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from fastapi import Depends, Request
from sqlalchemy import JSON, DateTime, MetaData, Table, event, make_url
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
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from app.settings import Settings
from app.sqlite_loop import loop_connect, wal_checkpoints
from app.sqlite_turns import WriteTurns, give_back

# Deterministic constraint names, so that migrations can refer to them on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class TableModel(
    SQLModel, registry=registry(metadata=MetaData(naming_convention=NAMING_CONVENTION))
):
    """The base of every table model (`class X(TableModel, table=True)`).

    Its own registry, not SQLModel's global one, so that the naming convention above
    applies and nothing else imported into the process adds tables to our metadata.
    Table models are never request or response bodies (see app/schemas.py).
    """

    # Set by SQLAlchemy on each table class; declared for the type checker, for the
    # hot paths that run Core statements on the table itself.
    __table__: ClassVar[Table]


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


_ordered = itertools.count(secrets.randbits(40))


def _version_7(ms: int, count: int, random_bits: int) -> int:
    count &= (1 << 42) - 1
    rand_a, rand_b = count >> 30, ((count & ((1 << 30) - 1)) << 32) | random_bits
    return (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b


def ordered_id() -> uuid.UUID:
    """A time-ordered UUID (version 7, RFC 9562: milliseconds since the epoch, then a
    counter and random bits): rows written in bulk get ids that follow each other, so
    each index insert lands at the end of its B-tree rather than on a random page."""
    ms = time.time_ns() // 1_000_000
    return uuid.UUID(int=_version_7(ms, next(_ordered), secrets.randbits(32)))


def ordered_hex_ids(count: int) -> list[str]:
    """`count` ids as `ordered_id` makes them, as 32 hex digits (what the Uuid type stores
    on SQLite, and asyncpg takes for a uuid): for bulk imports, where making a UUID
    object and drawing random bits row by row took a tenth of the time."""
    ms = time.time_ns() // 1_000_000
    random_bits = memoryview(secrets.token_bytes(4 * count)).cast("I")
    return [f"{_version_7(ms, next(_ordered), r):032x}" for r in random_bits]


# The two timestamp columns most tables have. (Any: a FieldInfo stands in for the value.)
def created_now() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime)


def updated_now() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow})


def _sqlite_pragmas(settings: Settings, checkpoints_in_commits: bool) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook issue BEGIN itself (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if not checkpoints_in_commits:  # see long_running_engine
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        # Reads by rowid and index all over a large file (the recipients of an alert):
        # served from memory-mapped pages, not a read() per page through a 2 MB cache.
        cursor.execute(f"PRAGMA mmap_size={int(settings.sqlite_mmap_mib) * 1024 * 1024}")
        cursor.execute(f"PRAGMA cache_size=-{int(settings.sqlite_cache_mib) * 1024}")
        cursor.close()

    return on_connect


def create_engine(settings: Settings, *, checkpoints_in_commits: bool = True) -> AsyncEngine:
    if settings.is_sqlite:
        database = sqlite_path(settings)

        async def connect() -> Any:
            return await loop_connect(database, int(settings.sqlite_busy_timeout_ms))

        engine = create_async_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            async_creator=connect,
        )
        event.listen(
            engine.sync_engine, "connect", _sqlite_pragmas(settings, checkpoints_in_commits)
        )

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
            urgent = bool(conn.get_execution_options().get(URGENT_OPTION))
            # Held by the driver connection, which gives it back as soon as its COMMIT
            # or ROLLBACK returns (app.sqlite_loop), not a loop turn later at checkin.
            turns.take(conn.connection.driver_connection.turn, urgent=urgent)
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        # In case a connection goes back, or is dropped, in the middle of a transaction.
        @event.listens_for(engine.sync_engine.pool, "checkin")
        def _checked_in(dbapi_connection: Any, _record: Any) -> None:
            if dbapi_connection is not None:
                give_back(dbapi_connection.driver_connection.turn)

        @event.listens_for(engine.sync_engine.pool, "invalidate")
        def _invalidated(dbapi_connection: Any, _record: Any, _exc: Any) -> None:
            if dbapi_connection is not None:
                give_back(dbapi_connection.driver_connection.turn)

        return engine
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
    )


READ_ONLY_OPTION = "nw_read_only"
# Work that others wait for (the push dispatcher): its write turns come first.
URGENT_OPTION = "nw_urgent"


@asynccontextmanager
async def reading(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session for reads only: on SQLite it does not take the write lock."""
    async with sessionmaker() as session:
        await session.connection(execution_options={READ_ONLY_OPTION: True})
        yield session


@asynccontextmanager
async def long_running_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The engine of a process that runs for long (serve, worker), disposed at the end.

    On SQLite its commits leave the write-ahead log's checkpoints to a task of their
    own, off the event loop (app.sqlite_loop.wal_checkpoints). Any other engine keeps
    SQLite's own: without that task, the log would grow without end and every read
    slow down with it (bench/alert_recipients.py, seeded that way: 10x slower).
    """
    engine = create_engine(settings, checkpoints_in_commits=not settings.is_sqlite)
    try:
        if settings.is_sqlite:
            async with wal_checkpoints(sqlite_path(settings)):
                yield engine
        else:
            yield engine
    finally:
        await engine.dispose()


def sqlite_path(settings: Settings) -> str:
    return make_url(settings.database_url).database or ""


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
