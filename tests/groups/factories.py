"""Watch groups for tests, made through the API."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlmodel import col

from app.outbox.models import OutboxEvent
from tests.auth.factories import Account, new_admin

# A 1.75 km circle in central London (9.6 km², under the unverified groups' limit), and
# a square around Camden.
LONDON = {"type": "Point", "coordinates": [-0.1276, 51.5072], "radius_m": 1_750}
CAMDEN = {
    "type": "Polygon",
    "coordinates": [
        [[-0.15, 51.53], [-0.13, 51.53], [-0.13, 51.545], [-0.15, 51.545], [-0.15, 51.53]]
    ],
}


async def new_group(client: httpx.AsyncClient, owner: Account, **fields: Any) -> dict[str, Any]:
    body = {"name": "Elm Street Watch", "area": LONDON, **fields}
    answer = await client.post("/v1/groups", headers=owner.headers, json=body)
    assert answer.status_code == 201, answer.text
    group: dict[str, Any] = answer.json()
    return group


async def verify(app: FastAPI, client: httpx.AsyncClient, group_id: str) -> dict[str, Any]:
    """Have an admin verify the group, as an officer would: its coordinators moderate the
    reports submitted from now on."""

    admin = await new_admin(app, client)
    answer = await client.post(
        f"/v1/groups/{group_id}/verification",
        headers=admin.headers,
        json={"decision": "verified"},
    )
    assert answer.status_code == 201, answer.text
    decision: dict[str, Any] = answer.json()
    return decision


async def join(client: httpx.AsyncClient, account: Account, group_id: str) -> httpx.Response:
    return await client.post(f"/v1/groups/{group_id}/join", headers=account.headers, json={})


async def invite(
    client: httpx.AsyncClient, coordinator: Account, group_id: str, **fields: Any
) -> str:
    answer = await client.post(
        f"/v1/groups/{group_id}/invitations", headers=coordinator.headers, json=fields
    )
    assert answer.status_code == 201, answer.text
    code: str = answer.json()["code"]
    return code


async def set_member(
    client: httpx.AsyncClient, by: Account, group_id: str, user: Account, **fields: Any
) -> httpx.Response:
    return await client.patch(
        f"/v1/groups/{group_id}/members/{user.id}", headers=by.headers, json=fields
    )


async def outbox_events(app: FastAPI, event_type: str) -> list[dict[str, Any]]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            select(col(OutboxEvent.payload)).where(col(OutboxEvent.event_type) == event_type)
        )
        return [dict(p) for p in rows.scalars()]
