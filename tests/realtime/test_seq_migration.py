"""Revision 0012 numbers the rows logged before it per user, and the pushes waiting to go."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlmodel import col

from app.auth.models import User
from app.db import UTCDateTime
from app.migrate import alembic_config
from app.migrate import upgrade as migrate_up
from app.outbox.models import OutboxEvent
from app.push.models import Delivery
from tests.databases import in_thread


def _log(*more: sa.ColumnClause[object]) -> sa.TableClause:
    return sa.table(
        "event_log",
        sa.column("seq", sa.Integer),
        sa.column("event_id", sa.Uuid),
        sa.column("user_id", sa.Uuid),
        sa.column("event_type", sa.String),
        sa.column("created_at", UTCDateTime),
        *more,
    )


OLD_LOG = _log()  # event_log as revision 0011 left it: no user_seq
NEW_LOG = _log(sa.column("user_seq", sa.Integer))


def _downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


async def test_0012_numbers_each_users_old_rows_in_seq_order(database_url: str) -> None:
    in_thread(_downgrade, database_url, "0011")
    engine = create_async_engine(database_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    a, b = uuid.uuid4(), uuid.uuid4()
    events = [uuid.uuid4() for _ in range(4)]
    now = datetime.now(UTC)
    # Global seqs 5..9 (1..4 pruned long ago), a and b interleaved: a 5, 7, 9; b 6, 8.
    logged = [(5, a, 0), (6, b, 0), (7, a, 1), (8, b, 2), (9, a, 3)]
    try:
        async with sessions() as session, session.begin():
            session.add_all(User(id=u, email=f"{u}@example.org", display_name="x") for u in (a, b))
            session.add_all(
                OutboxEvent(id=e, event_type="alert.issued", payload={}) for e in events
            )
            await session.flush()
            await session.execute(
                sa.insert(OLD_LOG),
                [
                    {
                        "seq": seq,
                        "event_id": events[e],
                        "user_id": u,
                        "event_type": "alert.issued",
                        "created_at": now,
                    }
                    for seq, u, e in logged
                ],
            )
            if engine.dialect.name == "postgresql":  # as if seq had given these numbers
                await session.execute(
                    sa.text("SELECT setval(pg_get_serial_sequence('event_log', 'seq'), 9)")
                )
            session.add_all(
                Delivery(
                    delivery_key=f"{seq}",
                    event_id=events[e],
                    event_type="alert.issued",
                    user_id=u,
                    seq=seq,
                )
                for seq, u, e in logged
            )
            # A push whose row the log no longer holds: it goes without a seq.
            session.add(
                Delivery(delivery_key="gone", event_id=events[0], event_type="x", user_id=a, seq=3)
            )
        in_thread(migrate_up, database_url)
        async with sessions() as session:
            numbered = await session.execute(
                sa.select(NEW_LOG.c.seq, NEW_LOG.c.user_id, NEW_LOG.c.user_seq).order_by(
                    NEW_LOG.c.seq
                )
            )
            assert numbered.all() == [(5, a, 1), (6, b, 1), (7, a, 2), (8, b, 2), (9, a, 3)]
            pushes = await session.execute(sa.select(col(Delivery.delivery_key), col(Delivery.seq)))
            assert dict(pushes.all()) == {"5": 1, "6": 1, "7": 2, "8": 2, "9": 3, "gone": None}
        async with sessions() as session, session.begin():  # the global order goes on
            await session.execute(
                sa.insert(NEW_LOG).values(user_id=b, user_seq=3),
                {"event_id": events[3], "event_type": "alert.issued", "created_at": now},
            )
        async with sessions() as session:
            newest = await session.scalar(sa.select(sa.func.max(NEW_LOG.c.seq)))
            assert newest == 10
        in_thread(_downgrade, database_url, "0011")
        async with sessions() as session:
            pushes = await session.execute(sa.select(col(Delivery.delivery_key), col(Delivery.seq)))
            assert dict(pushes.all()) == {
                "5": 5,
                "6": 6,
                "7": 7,
                "8": 8,
                "9": 9,
                "gone": None,
            }
        in_thread(migrate_up, database_url)
    finally:
        await engine.dispose()


async def test_0012_keeps_sqlite_from_reusing_pruned_seqs(database_url: str) -> None:
    """SQLite's batch mode copies the table; the copy must go on after the highest seq
    ever given, not after the highest left."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's AUTOINCREMENT only")
    in_thread(_downgrade, database_url, "0011")
    engine = create_async_engine(database_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    user, event = uuid.uuid4(), uuid.uuid4()
    try:
        async with sessions() as session, session.begin():
            session.add(User(id=user, email=f"{user}@example.org", display_name="x"))
            session.add(OutboxEvent(id=event, event_type="alert.issued", payload={}))
            await session.flush()
            row = {"event_id": event, "user_id": user, "event_type": "x"}
            await session.execute(sa.insert(OLD_LOG), [{**row, "created_at": datetime.now(UTC)}])
            await session.execute(sa.text("UPDATE sqlite_sequence SET seq = 41"))
            await session.execute(sa.delete(OLD_LOG))
        in_thread(migrate_up, database_url)
        async with sessions() as session, session.begin():
            await session.execute(
                sa.insert(NEW_LOG).values(user_id=user, user_seq=1),
                {"event_id": event, "event_type": "x", "created_at": datetime.now(UTC)},
            )
        async with sessions() as session:
            assert await session.scalar(sa.select(sa.func.max(NEW_LOG.c.seq))) == 42
    finally:
        await engine.dispose()
