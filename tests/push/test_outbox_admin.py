"""Dead outbox events: parked after failing, listed for admins, retryable."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from app import outbox
from app.outbox.models import OutboxEvent
from app.push.dispatcher import Dispatcher
from tests.auth.factories import new_account, new_admin
from tests.groups.factories import new_group
from tests.push.factories import RecordingSender, drain


async def test_a_dead_event_is_listed_with_its_error_and_can_be_retried(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    resident = await new_account(client)
    group = await new_group(client, resident)
    async with app.state.sessionmaker() as session, session.begin():
        broken = await outbox.emit(session, "membership.approved", {"group_id": "not-a-uuid"})
    dispatcher = Dispatcher(app.state.sessionmaker, RecordingSender(), max_attempts=1)
    await drain(dispatcher)

    assert (await client.get("/v1/admin/outbox", headers=resident.headers)).status_code == 403
    page = (await client.get("/v1/admin/outbox?state=dead", headers=admin.headers)).json()
    assert [e["id"] for e in page["items"]] == [str(broken.id)]
    dead = page["items"][0]
    assert dead["attempts"] == 1
    assert dead["last_error"].startswith("ValueError: badly formed hexadecimal UUID")
    bad_state = await client.get("/v1/admin/outbox?state=lost", headers=admin.headers)
    assert bad_state.status_code == 422

    # The cause is fixed (here: by hand), then the admin retries it.
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(OutboxEvent)
            .where(col(OutboxEvent.id) == broken.id)
            .values(payload={"group_id": group["id"], "user_id": str(resident.id)})
        )
    answer = await client.post(f"/v1/admin/outbox/{broken.id}/retry", headers=admin.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "pending"
    assert answer.json()["attempts"] == 0
    again = await client.post(f"/v1/admin/outbox/{broken.id}/retry", headers=admin.headers)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    await drain(dispatcher)
    async with app.state.sessionmaker() as session:
        event = await session.get(OutboxEvent, broken.id)
    assert event is not None
    assert event.state == "done"
    page = (await client.get("/v1/admin/outbox?state=dead", headers=admin.headers)).json()
    assert page["items"] == []
    missing = await client.post(
        "/v1/admin/outbox/00000000-0000-0000-0000-000000000000/retry", headers=admin.headers
    )
    assert missing.status_code == 404
