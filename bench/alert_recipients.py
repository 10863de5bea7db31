"""resolve_recipients at national scale, on SQLite and PostgreSQL + PostGIS.

1,000,000 residents with 1-3 places each (most around the UK's cities, as in
bench/geo_index.py), 2,000 groups with a third of residents in one, preferences for
a third of them; 200 alerts from city-block (200 m) to city-wide (10 km), circles and
polygons. Prints median and p99 resolution time and recipients per second, and the
same for a brute-force scan (every place read and tested, no index) on a sample of the
alerts in the same run.

    .venv/bin/python -m bench.alert_recipients [--residents N] [--alerts N]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from pydantic import SecretStr
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.alerts.models import Alert, Place, Preferences
from app.alerts.recipients import decide, resolve_recipients
from app.auth.models import User
from app.categories import Category
from app.db import create_engine, create_sessionmaker
from app.geo.index import index_for
from app.geo.shapes import Circle, PolygonShape, circles_touching
from app.groups.models import Group, Membership
from app.settings import Settings
from bench.common import percentile, scratch_database
from bench.geo_index import _city_point, random_point

BATCH = 20_000


async def seed(
    sessions: async_sessionmaker[AsyncSession], rng: random.Random, residents: int
) -> None:
    groups = []
    for _ in range(2_000):
        lon, lat = _city_point(rng)
        groups.append((uuid.uuid4(), Circle(lon, lat, rng.uniform(500, 3_000))))
    async with sessions() as session, session.begin():
        await session.execute(
            insert(Group),
            [
                {
                    "id": g,
                    "name": "g",
                    "area": c.to_geojson(),
                    "visibility": "public",
                    "join_policy": "open",
                }
                for g, c in groups
            ],
        )
        await index_for(session).put_many(session, "group", groups, replace=False)
    for start in range(0, residents, BATCH):
        users: list[dict[str, Any]] = []
        places: list[dict[str, Any]] = []
        members: list[dict[str, Any]] = []
        prefs: list[dict[str, Any]] = []
        for _ in range(min(BATCH, residents - start)):
            user = uuid.uuid4()
            users.append(
                {
                    "id": user,
                    "email": f"{user.hex}@example.org",
                    "display_name": "r",
                    "role": "resident",
                }
            )
            for _ in range(rng.randint(1, 3)):
                lon, lat = random_point(rng)
                places.append(
                    {
                        "id": uuid.uuid4(),
                        "user_id": user,
                        "label": "p",
                        "lon": lon,
                        "lat": lat,
                        "radius_m": rng.uniform(100, 1_500),
                    }
                )
            if rng.random() < 1 / 3:
                members.append(
                    {
                        "group_id": rng.choice(groups)[0],
                        "user_id": user,
                        "role": "member",
                        "status": "active",
                    }
                )
            if rng.random() < 1 / 3:
                prefs.append(
                    {
                        "user_id": user,
                        "muted_categories": ["drugs"],
                        "min_severity": rng.choice(["minor", "moderate"]),
                    }
                )
        async with sessions() as session, session.begin():
            await session.execute(insert(User), users)
            await session.execute(insert(Place), places)
            if members:
                await session.execute(insert(Membership), members)
            if prefs:
                await session.execute(insert(Preferences), prefs)
            await index_for(session).put_many(
                session,
                "place",
                [(p["id"], Circle(p["lon"], p["lat"], p["radius_m"])) for p in places],
                replace=False,
                owners=[p["user_id"] for p in places],
            )


def make_alert(rng: random.Random, now: datetime) -> Alert:
    lon, lat = _city_point(rng)
    radius = math.exp(rng.uniform(math.log(200), math.log(10_000)))
    if rng.random() < 0.7:
        area = Circle(lon, lat, radius).to_geojson()
    else:
        from shapely.geometry import Polygon

        n = 24
        ring = [
            (
                lon
                + radius * math.cos(2 * math.pi * i / n) / (111_195 * math.cos(math.radians(lat))),
                lat + radius * math.sin(2 * math.pi * i / n) / 111_195,
            )
            for i in range(n)
        ]
        area = PolygonShape(Polygon(ring)).to_geojson()
    return Alert(
        id=uuid.uuid4(),
        chain_id=uuid.uuid4(),
        title="t",
        body="b",
        category=rng.choice(list(Category)).value,
        severity=rng.choice(["moderate", "severe"]),
        urgency="expected",
        certainty="likely",
        status="actual",
        area=area,
        actions=[],
        issuer_id=None,
        issuer_kind="agency",
        issuer_name="x",
        issued_at=now,
        expires_at=now + timedelta(hours=6),
    )


async def brute_force(session: AsyncSession, alert: Alert) -> int:
    """No index: read every place, test every one, then apply preferences."""
    from app.geo.shapes import from_geojson

    rows = (
        await session.execute(
            select(col(Place.user_id), col(Place.lon), col(Place.lat), col(Place.radius_m))
        )
    ).all()
    hits = circles_touching(
        from_geojson(alert.area),
        np.array([r[1] for r in rows]),
        np.array([r[2] for r in rows]),
        np.array([r[3] for r in rows]),
    )
    users = {r[0] for r, hit in zip(rows, hits, strict=True) if hit}
    prefs = {p.user_id: p for p in (await session.execute(select(Preferences))).scalars()}
    return sum(decide(alert, prefs.get(u), alert.issued_at) is not None for u in users)


async def run(backend: str, residents: int, alerts: int, scans: int, seed_value: int) -> None:
    rng = random.Random(seed_value)
    async with scratch_database(backend) as url:
        engine = create_engine(Settings(database_url=url, jwt_secret=SecretStr("b" * 32)))
        sessions = create_sessionmaker(engine)
        started = time.perf_counter()
        await seed(sessions, rng, residents)
        if backend == "postgres":
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
        print(
            f"[{backend}] seeded {residents:,} residents in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        now = datetime.now(UTC)
        times: list[float] = []
        counts: list[int] = []
        sample = [make_alert(rng, now) for _ in range(alerts)]
        async with sessions() as session:
            for alert in sample:
                t = time.perf_counter()
                recipients = await resolve_recipients(session, alert, now)
                times.append(time.perf_counter() - t)
                counts.append(len(recipients))
            scan_times: list[float] = []
            for alert in sample[:scans]:
                t = time.perf_counter()
                await brute_force(session, alert)
                scan_times.append(time.perf_counter() - t)
        await engine.dispose()
    big = [t for t, c in zip(times, counts, strict=True) if 5_000 <= c <= 20_000]
    rate = sum(counts) / sum(times)
    print(
        f"[{backend}] recipients per alert: median {statistics.median(counts):,.0f}, "
        f"max {max(counts):,}"
    )
    print(
        f"[{backend}] resolve: median {statistics.median(times) * 1000:.1f} ms, "
        f"p99 {percentile(times, 99) * 1000:.1f} ms, {rate:,.0f} recipients/s"
    )
    sized = [(c, t) for t, c in zip(times, counts, strict=True) if c >= 1_000]
    if len(sized) >= 3:
        # Least-squares line through (recipients, seconds): the time at exactly 10,000.
        slope, intercept = np.polyfit([c for c, _ in sized], [t for _, t in sized], 1)
        print(
            f"[{backend}] fitted time for a 10,000-recipient alert: "
            f"{(slope * 10_000 + intercept) * 1000:.1f} ms (from {len(sized)} alerts)"
        )
    if big:
        print(
            f"[{backend}] alerts with 5,000-20,000 recipients: n={len(big)}, median "
            f"{statistics.median(big) * 1000:.1f} ms (goal: a 10,000-recipient alert "
            "under 200 ms)"
        )
    print(
        f"[{backend}] brute-force scan: n={len(scan_times)}, median "
        f"{statistics.median(scan_times) * 1000:.0f} ms; ratio scan/index (median) "
        f"{statistics.median(scan_times) / statistics.median(times):.0f}x",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--scans", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    for backend in args.backends.split(","):
        asyncio.run(run(backend, args.residents, args.alerts, args.scans, args.seed))


if __name__ == "__main__":
    main()
