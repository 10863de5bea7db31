"""Incident reports for tests, made through the API (or, for figures over dates the API
would refuse, written as rows: `seed_rows`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from app.geo.index import index_for
from app.geo.shapes import Circle
from app.incidents.models import Incident
from tests.auth.factories import Account

Point = tuple[float, float]

# Inside tests.groups.factories.LONDON (a 1.75 km circle around -0.1276, 51.5072).
SPOT = (-0.1270, 51.5080)


def report_body(**fields: Any) -> dict[str, Any]:
    return {
        "category": "burglary",
        "description": "Shed door forced, bike taken.",
        "occurred_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
        "location": {"type": "Point", "coordinates": list(SPOT)},
        "accuracy_m": 12,
        "anonymous": True,
        **fields,
    }


async def report(
    client: httpx.AsyncClient, reporter: Account, key: str | None = None, **fields: Any
) -> httpx.Response:
    headers = {**reporter.headers, **({"Idempotency-Key": key} if key else {})}
    return await client.post("/v1/incidents", headers=headers, json=report_body(**fields))


async def seed_rows(
    app: FastAPI, reporter: uuid.UUID, rows: list[tuple[str, str, str, Point, Point]]
) -> None:
    """Anonymous reports as rows: (occurred and reported at, category, status, exact
    point, snapped point), each with its geo index entry at the exact point."""
    async with app.state.sessionmaker() as session, session.begin():
        for when, category, status, (lon, lat), (s_lon, s_lat) in rows:
            at = datetime.fromisoformat(when).replace(tzinfo=UTC)
            incident = Incident(
                reporter_id=reporter,
                category=category,
                description="x",
                occurred_at=at,
                reported_at=at,
                lon=lon,
                lat=lat,
                snapped_lon=s_lon,
                snapped_lat=s_lat,
                anonymous=True,
                status=status,
            )
            session.add(incident)
            await session.flush()
            await index_for(session).put(session, "incident", incident.id, Circle(lon, lat))
