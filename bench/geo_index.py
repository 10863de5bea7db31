"""GeoIndex against a brute-force scan, on SQLite (R*Tree) and PostgreSQL (PostGIS GiST).

1,000,000 stored circles (watched places, 100 m - 2 km) over a UK-sized region, most of
them clustered around cities weighted like the UK's; 1,000 alert areas (circles of
200 m - 5 km and polygons of similar size) placed where people are. Each query is the
adapter's `intersecting` (index narrowing + exact test); the baseline is the same exact
test over every stored shape (`ReferenceIndex`), timed on a sample of the same queries
in the same run.

    .venv/bin/python -m bench.geo_index [--points N] [--queries N] [--scan-queries N]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import time
import uuid

from pydantic import SecretStr
from shapely.geometry import Polygon

from app.db import create_engine, create_sessionmaker
from app.geo.index import ReferenceIndex, index_for
from app.geo.shapes import Circle, PolygonShape, Shape
from app.settings import Settings
from bench.common import scratch_database, summary

# (lon, lat, relative population) for the largest UK urban areas.
CITIES = [
    (-0.12, 51.51, 9.0),
    (-2.24, 53.48, 2.8),
    (-1.90, 52.48, 2.6),
    (-1.55, 53.80, 1.9),
    (-4.25, 55.86, 1.7),
    (-2.99, 53.41, 0.9),
    (-1.47, 53.38, 0.7),
    (-2.59, 51.45, 0.7),
    (-3.19, 55.95, 0.5),
    (-1.13, 52.95, 0.7),
    (-1.61, 54.97, 0.8),
    (-3.18, 51.48, 0.5),
    (-1.40, 50.90, 0.8),
    (-1.08, 50.80, 0.5),
    (-1.15, 52.64, 0.5),
    (-5.93, 54.60, 0.6),
    (-0.33, 53.74, 0.3),
    (-1.52, 52.41, 0.4),
    (-2.10, 57.15, 0.2),
    (-3.97, 56.12, 0.1),
]
REGION = (-6.0, 50.0, 1.8, 58.6)  # west, south, east, north
CLUSTERED = 0.8


def _city_point(rng: random.Random) -> tuple[float, float]:
    lon, lat, weight = rng.choices(CITIES, weights=[c[2] for c in CITIES])[0]
    spread_km = 4 + 6 * math.sqrt(weight)
    dx, dy = rng.gauss(0, spread_km), rng.gauss(0, spread_km)
    return lon + dx / (111.2 * math.cos(math.radians(lat))), lat + dy / 111.2


def random_point(rng: random.Random) -> tuple[float, float]:
    if rng.random() < CLUSTERED:
        return _city_point(rng)
    west, south, east, north = REGION
    return rng.uniform(west, east), rng.uniform(south, north)


def stored_circle(rng: random.Random) -> Circle:
    lon, lat = random_point(rng)
    return Circle(lon, lat, math.exp(rng.uniform(math.log(100), math.log(2_000))))


def alert_area(rng: random.Random) -> Shape:
    lon, lat = _city_point(rng)
    radius = math.exp(rng.uniform(math.log(200), math.log(5_000)))
    if rng.random() < 0.7:
        return Circle(lon, lat, radius)
    n = rng.randint(5, 40)
    ring = []
    for i in range(n):
        a = 2 * math.pi * i / n
        r = radius * rng.uniform(0.6, 1.0)
        ring.append(
            (
                lon + r * math.cos(a) / (111_200 * math.cos(math.radians(lat))),
                lat + r * math.sin(a) / 111_200,
            )
        )
    return PolygonShape(Polygon(ring))


async def run(backend: str, points: int, queries: int, scan_queries: int, seed: int) -> None:
    rng = random.Random(seed)
    async with scratch_database(backend) as url:
        engine = create_engine(Settings(database_url=url, jwt_secret=SecretStr("b" * 32)))
        sessions = create_sessionmaker(engine)
        started = time.perf_counter()
        batch = 20_000
        for start in range(0, points, batch):
            async with sessions() as session, session.begin():
                items = [
                    (uuid.uuid4(), stored_circle(rng)) for _ in range(min(batch, points - start))
                ]
                await index_for(session).put_many(session, "place", items, replace=False)
        if backend == "postgres":
            async with engine.begin() as conn:  # committed: statistics are transactional
                await conn.exec_driver_sql("ANALYZE geo_entries")
        load_s = time.perf_counter() - started
        areas = [alert_area(rng) for _ in range(queries)]

        index_times: list[float] = []
        matches: list[int] = []
        async with sessions() as session:
            index = index_for(session)
            for area in areas:
                t = time.perf_counter()
                found = await index.intersecting(session, "place", area)
                index_times.append(time.perf_counter() - t)
                matches.append(len(found))

            reference = ReferenceIndex()
            scan_times: list[float] = []
            sample = areas[:: max(1, len(areas) // scan_queries)][:scan_queries]
            for area in sample:
                t = time.perf_counter()
                expected = await reference.intersecting(session, "place", area)
                scan_times.append(time.perf_counter() - t)
                got = await index.intersecting(session, "place", area)
                assert set(got) == set(expected), "the index disagrees with the scan"
        await engine.dispose()

    median_index = statistics.median(index_times)
    median_scan = statistics.median(scan_times)
    print(
        f"[{backend}] loaded {points:,} circles in {load_s:.1f} s; "
        f"matches per query: median {statistics.median(matches):.0f}, max {max(matches):,}"
    )
    print(f"[{backend}] {summary('index', index_times)}")
    print(f"[{backend}] {summary('brute-force scan', scan_times)}")
    print(
        f"[{backend}] speed-up (median scan / median index): {median_scan / median_index:.0f}x"
        f"  goal: median < 20 ms and >= 100x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--scan-queries", type=int, default=10)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for backend in args.backends.split(","):
        asyncio.run(run(backend, args.points, args.queries, args.scan_queries, args.seed))


if __name__ == "__main__":
    main()
