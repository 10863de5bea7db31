"""Incident reports for tests, made through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.auth.factories import Account

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
