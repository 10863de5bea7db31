"""resolve_recipients against a brute-force reference on seeded random data.

The reference walks every resident and applies the rules directly (it shares only the
exact geometric test with the code under test), including quiet hours evaluated
independently in each resident's time zone, across midnight.
"""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from sqlalchemy import insert

from app.alerts.models import Alert, Place, Preferences
from app.alerts.recipients import resolve_recipients
from app.auth.models import User
from app.categories import Category
from app.geo.index import index_for
from app.geo.shapes import Circle, PolygonShape, Shape, from_geojson, intersects
from app.groups.models import Group, Membership

RESIDENTS, GROUPS, ALERTS = 3_000, 150, 150
CENTRE = (-0.12, 51.5)
ZONES = [
    "Europe/London",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
]
SEVERITIES = ["minor", "moderate", "severe", "extreme"]


def _near(rng: random.Random, spread_m: float = 8_000) -> tuple[float, float]:
    dx, dy = rng.gauss(0, spread_m), rng.gauss(0, spread_m)
    return (
        CENTRE[0] + dx / (111_195 * math.cos(math.radians(CENTRE[1]))),
        CENTRE[1] + dy / 111_195,
    )


def _area(rng: random.Random) -> dict[str, object]:
    lon, lat = _near(rng)
    radius = rng.uniform(300, 3_000)
    if rng.random() < 0.5:
        return {"type": "Point", "coordinates": [lon, lat], "radius_m": radius}
    n = rng.randint(4, 9)
    k = radius / 111_195
    ring = [
        [
            lon
            + k * math.cos(2 * math.pi * i / n) / math.cos(math.radians(lat)) * rng.uniform(0.5, 1),
            lat + k * math.sin(2 * math.pi * i / n) * rng.uniform(0.5, 1),
        ]
        for i in range(n)
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def _hhmm(rng: random.Random) -> str:
    return f"{rng.randrange(24):02d}:{rng.choice([0, 15, 30, 45]):02d}"


async def _seed(app: FastAPI, rng: random.Random) -> dict[str, object]:
    users = [uuid.uuid4() for _ in range(RESIDENTS)]
    groups = {uuid.uuid4(): _area(rng) for _ in range(GROUPS)}
    places: dict[uuid.UUID, list[Circle]] = {u: [] for u in users}
    memberships: dict[uuid.UUID, dict[uuid.UUID, str]] = {u: {} for u in users}
    prefs: dict[uuid.UUID, dict[str, object]] = {}
    place_rows: list[dict[str, Any]] = []
    membership_rows: list[dict[str, Any]] = []
    pref_rows: list[dict[str, Any]] = []
    for user in users:
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            lon, lat = _near(rng)
            c = Circle(lon, lat, rng.uniform(50, 5_000))
            places[user].append(c)
            place_rows.append(
                {
                    "id": uuid.uuid4(),
                    "user_id": user,
                    "label": "p",
                    "lon": c.lon,
                    "lat": c.lat,
                    "radius_m": c.radius_m,
                }
            )
        for group in rng.sample(list(groups), rng.choice([0, 1, 1, 2, 3])):
            status = rng.choices(["active", "pending", "banned"], [8, 1, 1])[0]
            memberships[user][group] = status
            membership_rows.append(
                {"group_id": group, "user_id": user, "role": "member", "status": status}
            )
        if rng.random() < 0.6:
            p: dict[str, object] = {
                "muted_categories": rng.sample([c.value for c in Category], rng.randint(0, 3)),
                "min_severity": rng.choice(SEVERITIES),
                "quiet_start": None,
                "quiet_end": None,
                "quiet_timezone": None,
            }
            if rng.random() < 0.6:
                p.update(
                    quiet_start=_hhmm(rng), quiet_end=_hhmm(rng), quiet_timezone=rng.choice(ZONES)
                )
            prefs[user] = p
            pref_rows.append({"user_id": user, **p})
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            insert(User),
            [
                {"id": u, "email": f"{u}@example.org", "display_name": "r", "role": "resident"}
                for u in users
            ],
        )
        await session.execute(
            insert(Group),
            [
                {"id": g, "name": "g", "area": a, "visibility": "public", "join_policy": "open"}
                for g, a in groups.items()
            ],
        )
        await session.execute(insert(Place), place_rows)
        await session.execute(insert(Membership), membership_rows)
        await session.execute(insert(Preferences), pref_rows)
        index = index_for(session)
        await index.put_many(
            session,
            "place",
            [(r["id"], Circle(r["lon"], r["lat"], r["radius_m"])) for r in place_rows],
            replace=False,
            owners=[r["user_id"] for r in place_rows],
        )
        await index.put_many(
            session, "group", [(g, from_geojson(a)) for g, a in groups.items()], replace=False
        )
    return {
        "users": users,
        "groups": groups,
        "places": places,
        "memberships": memberships,
        "prefs": prefs,
    }


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def reference(alert: Alert, world: dict[str, object], at: datetime) -> dict[uuid.UUID, bool]:
    if alert.status == "test":
        return {alert.issuer_id: False} if alert.issuer_id else {}
    shape = from_geojson(alert.area)
    groups: dict[uuid.UUID, dict[str, object]] = world["groups"]  # type: ignore[assignment]
    out: dict[uuid.UUID, bool] = {}
    for user in world["users"]:  # type: ignore[attr-defined]
        member_of = {
            g
            for g, s in world["memberships"][user].items()  # type: ignore[index]
            if s == "active"
        }
        if alert.group_id is not None and alert.group_id not in member_of:
            continue
        watched: list[Shape] = list(world["places"][user])  # type: ignore[index]
        if not watched:
            watched = [from_geojson(groups[g]) for g in member_of]
        if not any(intersects(shape, w) for w in watched):
            continue
        p = world["prefs"].get(user)  # type: ignore[attr-defined]
        if alert.severity == "extreme" or p is None:
            out[user] = False
            continue
        if alert.category in p["muted_categories"]:
            continue
        if SEVERITIES.index(alert.severity) < SEVERITIES.index(p["min_severity"]):
            continue
        silent = False
        if p["quiet_start"]:
            local = at.astimezone(ZoneInfo(p["quiet_timezone"]))
            now, start, end = (
                local.hour * 60 + local.minute,
                _minutes(p["quiet_start"]),
                _minutes(p["quiet_end"]),
            )
            if start < end:
                silent = start <= now < end
            elif start > end:
                silent = now >= start or now < end
        out[user] = silent
    return out


async def test_resolve_recipients_matches_reference(app: FastAPI) -> None:
    rng = random.Random(515)
    world = await _seed(app, rng)
    users: list[uuid.UUID] = world["users"]  # type: ignore[assignment]
    group_ids = list(world["groups"])  # type: ignore[call-overload]
    day = datetime(2026, 11, 23, tzinfo=UTC)
    totals = {"recipients": 0, "silent": 0, "alerts_with_recipients": 0}
    mismatches = []
    async with app.state.sessionmaker() as session:
        for i in range(ALERTS):
            group_id = rng.choice(group_ids) if rng.random() < 0.4 else None
            alert = Alert(
                id=uuid.uuid4(),
                chain_id=uuid.uuid4(),
                title="t",
                body="b",
                category=rng.choice(list(Category)).value,
                severity=rng.choices(SEVERITIES, [3, 3, 2, 1])[0],
                urgency="expected",
                certainty="likely",
                status=rng.choices(["actual", "exercise", "test"], [8, 1, 1])[0],
                area=_area(rng),
                actions=[],
                group_id=group_id,
                issuer_id=rng.choice(users),
                issuer_kind="admin",
                issuer_name="x",
                issued_at=day,
                expires_at=day + timedelta(days=1),
            )
            at = day + timedelta(minutes=rng.randrange(24 * 60))
            got = await resolve_recipients(session, alert, at)
            want = reference(alert, world, at)
            if got != want:
                mismatches.append((i, len(set(got) ^ set(want)), alert.area["type"]))
            totals["recipients"] += len(want)
            totals["silent"] += sum(want.values())
            totals["alerts_with_recipients"] += bool(want)
    assert mismatches == []
    # The random world must exercise every rule, or agreement proves little.
    assert totals["alerts_with_recipients"] > ALERTS // 2
    assert totals["silent"] > 10
    assert totals["recipients"] > 1_000


def test_polygon_alerts_are_generated() -> None:
    rng = random.Random(1)
    kinds = {_area(rng)["type"] for _ in range(50)}
    assert kinds == {"Point", "Polygon"}
    assert isinstance(
        from_geojson(next(a for a in (_area(rng) for _ in range(50)) if a["type"] == "Polygon")),
        PolygonShape,
    )
