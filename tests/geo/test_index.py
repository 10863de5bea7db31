"""Both index adapters answer exactly what the brute-force reference answers."""

from __future__ import annotations

import random
import uuid

from fastapi import FastAPI

from app.geo.index import ReferenceIndex, index_for
from app.geo.shapes import Circle, Shape
from tests.geo.random_shapes import random_circle, random_polygon, random_shape

STORED_CIRCLES = 2_000
STORED_POLYGONS = 300
QUERIES = 150


async def _store(app: FastAPI, rng: random.Random) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        index = index_for(session)
        circles = [(uuid.uuid4(), random_circle(rng)) for _ in range(STORED_CIRCLES)]
        await index.put_many(session, "circles", circles)
        polygons = [(uuid.uuid4(), random_polygon(rng)) for _ in range(STORED_POLYGONS)]
        await index.put_many(session, "polygons", polygons)


async def test_adapter_matches_reference_on_random_shapes(app: FastAPI) -> None:
    rng = random.Random(20261123)
    await _store(app, rng)
    reference = ReferenceIndex(frozen=True)
    mismatches: list[str] = []
    nonempty = 0
    async with app.state.sessionmaker() as session:
        index = index_for(session)
        for i in range(QUERIES):
            query: Shape = random_shape(rng, polygon_share=0.3)
            for collection in ("circles", "polygons"):
                for method in ("intersecting", "within", "containing"):
                    got = set(await getattr(index, method)(session, collection, query))
                    want = set(await getattr(reference, method)(session, collection, query))
                    nonempty += bool(want)
                    if got != want:
                        mismatches.append(
                            f"query {i} {method} {collection}: {query}: "
                            f"missing {len(want - got)}, extra {len(got - want)}"
                        )
    assert mismatches == []
    # The data must actually exercise matching, or this test proves nothing.
    assert nonempty > QUERIES


async def test_many_shapes_at_once_match_one_at_a_time(app: FastAPI) -> None:
    """`intersecting_each` (a batch of points or shapes, a hundred to a search, the same
    box searched once) answers for each shape what the reference answers for it alone."""
    rng = random.Random(20261124)
    await _store(app, rng)
    queries: dict[int, Shape] = {i: random_shape(rng, polygon_share=0.3) for i in range(250)}
    spot = Circle(-0.1276, 51.5072)
    queries.update({1000 + i: spot for i in range(5)})  # one spot, reported again and again
    reference = ReferenceIndex(frozen=True)
    async with app.state.sessionmaker() as session:
        index = index_for(session)
        for collection in ("circles", "polygons"):
            got = await index.intersecting_each(session, collection, queries)
            want = {
                key: set(await reference.intersecting(session, collection, shape))
                for key, shape in queries.items()
            }
            assert {key: set(ids) for key, ids in got.items()} == want
            assert sum(bool(ids) for ids in want.values()) > 20


async def test_replacing_and_removing_entries(app: FastAPI) -> None:
    object_id = uuid.uuid4()
    london, paris = Circle(-0.12, 51.5, 1_000), Circle(2.35, 48.85, 1_000)
    async with app.state.sessionmaker() as session, session.begin():
        index = index_for(session)
        await index.put(session, "things", object_id, london)
        assert await index.intersecting(session, "things", Circle(-0.12, 51.5)) == [object_id]
        await index.put(session, "things", object_id, paris)
        assert await index.intersecting(session, "things", Circle(-0.12, 51.5)) == []
        assert await index.intersecting(session, "things", Circle(2.35, 48.85)) == [object_id]
        # Collections do not see each other.
        assert await index.intersecting(session, "others", Circle(2.35, 48.85)) == []
        await index.remove(session, "things", object_id)
        assert await index.intersecting(session, "things", Circle(2.35, 48.85)) == []


async def test_circle_across_the_antimeridian_and_over_a_pole(app: FastAPI) -> None:
    east, pole = uuid.uuid4(), uuid.uuid4()
    async with app.state.sessionmaker() as session, session.begin():
        index = index_for(session)
        await index.put(session, "c", east, Circle(179.99, 0.0, 5_000))
        await index.put(session, "c", pole, Circle(0.0, 89.99, 5_000))
        # 179.99°E reaches over to -179.97°: found from the other side.
        assert await index.intersecting(session, "c", Circle(-179.97, 0.0)) == [east]
        assert await index.intersecting(session, "c", Circle(-179.9, 0.0)) == []
        # A cap over the pole covers every longitude near it.
        assert await index.intersecting(session, "c", Circle(135.0, 89.995)) == [pole]


async def test_polygon_split_at_the_antimeridian(app: FastAPI) -> None:
    from shapely.geometry import MultiPolygon, Polygon

    from app.geo.shapes import PolygonShape

    split = PolygonShape(
        MultiPolygon(
            [
                Polygon([(179.9, 0), (180, 0), (180, 0.1), (179.9, 0.1)]),
                Polygon([(-180, 0), (-179.9, 0), (-179.9, 0.1), (-180, 0.1)]),
            ]
        )
    )
    area_id = uuid.uuid4()
    async with app.state.sessionmaker() as session, session.begin():
        index = index_for(session)
        await index.put(session, "areas", area_id, split)
        for lon in (179.95, -179.95, 180.0):
            assert await index.intersecting(session, "areas", Circle(lon, 0.05)) == [area_id]
        # 1 km east of the eastern part's edge at -179.9 is outside; 12 km is not.
        assert await index.intersecting(session, "areas", Circle(-179.89, 0.05, 500)) == []
        assert await index.intersecting(session, "areas", Circle(-179.89, 0.05, 1_200)) == [area_id]
        assert await index.intersecting(session, "areas", Circle(0.0, 0.05, 1_000)) == []


def test_a_point_has_the_box_the_general_case_gives_it() -> None:
    """Points (police.uk's crimes) skip the trigonometry: the same boxes as a circle of a
    radius too small to move any coordinate."""
    rng = random.Random(7)
    points = [(rng.uniform(-178.9, 178.9), rng.uniform(-88.9, 88.9)) for _ in range(500)]
    points += [(0.0, 0.0), (-0.1276, 51.5072), (178.99, 88.99)]
    for lon, lat in points:
        assert Circle(lon, lat).boxes() == Circle(lon, lat, 1e-300).boxes(), (lon, lat)
    # Beyond the fast path's bounds, the general case decides (the poles, the antimeridian).
    assert Circle(180.0, 10.0).boxes() == Circle(180.0, 10.0, 1e-300).boxes()
    assert len(Circle(0.0, 90.0).boxes()) == 1
