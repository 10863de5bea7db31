"""Revision 0024 gives the crimes imported before it their grid cells, as the import
computes them, and takes their points out of the geo index; going back puts them in."""

from __future__ import annotations

import random
import uuid
from datetime import date

import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.db import UTCDateTime, utcnow
from app.geo.grid import cell
from app.geo.index import index_for
from app.geo.shapes import Circle
from app.migrate import alembic_config
from app.migrate import upgrade as migrate_up
from tests.databases import in_thread

OLD_CRIMES = sa.table(  # police_crimes as revision 0023 left it: no cell
    "police_crimes",
    sa.column("id", sa.Uuid),
    sa.column("month", sa.Date),
    sa.column("crime_type", sa.String),
    sa.column("category", sa.String),
    sa.column("lon", sa.Float),
    sa.column("lat", sa.Float),
    sa.column("imported_at", UTCDateTime),
)


def _downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def _points() -> list[tuple[float, float]]:
    rng = random.Random(24)
    awkward = [(-0.12, 51.5), (-180.0, -90.0), (180.0, 90.0), (179.99999, 0.0), (-0.005, 0.015)]
    return awkward + [(round(rng.uniform(-180, 180), 6), round(rng.uniform(-90, 90), 6))
                      for _ in range(300)]  # fmt: skip


async def test_0024_gives_old_crimes_their_cells_and_back(database_url: str) -> None:
    in_thread(_downgrade, database_url, "0023")
    engine = create_async_engine(database_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    points = {uuid.uuid4(): point for point in _points()}
    incident = uuid.uuid4()
    try:
        async with sessions() as session, session.begin():
            await session.execute(
                sa.insert(OLD_CRIMES),
                [
                    {
                        "id": i,
                        "month": date(2024, 1, 1),
                        "crime_type": "Burglary",
                        "category": "burglary",
                        "lon": x,
                        "lat": y,
                        "imported_at": utcnow(),
                    }
                    for i, (x, y) in points.items()
                ],
            )
            index = index_for(session)  # as the import wrote them before 0024
            await index.put_many(session, "police", [(i, Circle(*p)) for i, p in points.items()])
            await index.put(session, "incident", incident, Circle(-0.12, 51.5))
        in_thread(migrate_up, database_url)
        async with sessions() as session:
            cells: dict[object, int] = dict(
                (await session.execute(sa.text("SELECT id, cell FROM police_crimes"))).all()
            )
            assert {uuid.UUID(str(i)): c for i, c in cells.items()} == {
                i: cell(x, y) for i, (x, y) in points.items()
            }
            left = await session.execute(sa.text("SELECT collection FROM geo_entries"))
            assert left.scalars().all() == ["incident"]
            near = Circle(-0.12, 51.5, 10)
            assert await index_for(session).intersecting(session, "incident", near) == [incident]
            if engine.dialect.name == "sqlite":
                assert await session.scalar(sa.text("SELECT count(*) FROM geo_rtree")) == 1
        in_thread(_downgrade, database_url, "0023")
        async with sessions() as session:
            index = index_for(session)
            for i, (x, y) in list(points.items())[:40]:
                assert i in await index.intersecting(session, "police", Circle(x, y, 1)), (x, y)
            held = await session.scalar(
                sa.text("SELECT count(*) FROM geo_entries WHERE collection = 'police'")
            )
            assert held == len(points)
        in_thread(migrate_up, database_url)
    finally:
        await engine.dispose()
