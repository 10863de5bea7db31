"""DELETE /v1/me and DELETE /v1/admin/users/{id}: what goes, what stays anonymised."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlmodel import col

from app.alerts.models import Ack
from app.db import utcnow
from app.incidents.media import Media
from app.models import TableModel
from app.privacy.models import Erasure
from app.push.dispatcher import Dispatcher
from app.push.models import Delivery
from app.push.senders import Outcome, SendResult
from tests.alerts.factories import issue
from tests.auth.factories import PASSWORD, Account, new_account, new_admin
from tests.conftest import AppFactory
from tests.groups.factories import join, new_group
from tests.incidents.factories import report
from tests.privacy.factories import CITY, HOME, LABEL, NAME, SEEN, TOKEN, busy_resident
from tests.push.factories import RecordingSender, drain
from tests.realtime.client import Closed, WsClient
from tests.realtime.test_ws_limits import close_code, live_connection


async def erase(client: httpx.AsyncClient, who: Account, **body: Any) -> httpx.Response:
    return await client.request(
        "DELETE", "/v1/me", headers=who.headers, json=body or {"password": who.password}
    )


def leaves(value: Any) -> Iterator[Any]:
    """The scalars in a value, JSON documents walked."""
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from leaves(item)
    else:
        yield value


async def every_row(app: FastAPI) -> list[tuple[str, Any]]:
    """Every scalar of every table, with the table it is in."""
    found = []
    async with app.state.sessionmaker() as session:
        for table in TableModel.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                found += [(table.name, leaf) for value in row for leaf in leaves(value)]
    return found


def identifies(value: Any, texts: set[str], numbers: set[float]) -> bool:
    if isinstance(value, float):
        return value in numbers
    return any(text in str(value) for text in texts)


async def test_erasure_leaves_nothing_that_identifies_the_person(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    busy = await busy_resident(app, client)
    erin = busy.erin
    store_key = await _photo_key(app, busy.photo["id"])
    assert app.state.media_store._path(store_key).exists()  # the control
    # A push still pending to her phone when she leaves: FCM said "later".
    await issue(client, busy.officer, area=CITY, title="Second alert")
    later = RecordingSender({TOKEN: SendResult(Outcome.retry)})
    await drain(Dispatcher(app.state.sessionmaker, later))
    assert await _pending_to(app, erin.id) == 1
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(update(Delivery).values(next_attempt_at=utcnow()))  # due now

    assert (await erase(client, erin)).status_code == 204

    assert (await client.get("/v1/me", headers=erin.headers)).status_code == 401
    refreshed = await client.post(
        "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": erin.refresh_token}
    )
    assert refreshed.status_code == 400
    sender = RecordingSender()
    await drain(Dispatcher(app.state.sessionmaker, sender))
    assert all(m.token != TOKEN for m in sender.sent)
    assert not app.state.media_store._path(store_key).exists()
    # Nothing anywhere names her, holds her id, her home, her phone or her exact report.
    texts = {erin.email, NAME, LABEL, TOKEN, str(erin.id), erin.id.hex}
    numbers = {*HOME, *SEEN}
    leaks = [(t, v) for t, v in await every_row(app) if identifies(v, texts, numbers)]
    assert leaks == [], leaks
    # What the community relies on is still there, anonymised.
    admin = await new_admin(app, client)
    for reader in (busy.neighbour, busy.officer, admin):
        seen = await client.get(f"/v1/incidents/{busy.report['id']}", headers=reader.headers)
        assert seen.status_code == 200, seen.text
        incident = seen.json()
        assert incident["anonymous"] is True
        assert incident.get("reporter") is None
        assert incident["location"]["coordinates"] != list(SEEN)
    photo = await client.get(f"/v1/media/{busy.photo['id']}", headers=admin.headers)
    assert photo.status_code == 404
    alert = (await client.get(f"/v1/alerts/{busy.erin_alert['id']}", headers=admin.headers)).json()
    assert alert["issuer"] == {"id": None, "display_name": "coordinator", "kind": "coordinator"}
    async with app.state.sessionmaker() as session:
        acks = await session.scalar(select(func.count()).select_from(Ack))
        erasures = (await session.execute(select(Erasure))).scalars().all()
    assert acks == 1  # her acknowledgement still counts, by nobody
    assert [(e.requested_by, e.admin_id) for e in erasures] == [("self", None)]
    again = await client.post(
        "/v1/auth/register",
        json={"email": erin.email, "password": PASSWORD, "display_name": "Erin again"},
    )
    assert again.status_code == 201, again.text


async def _photo_key(app: FastAPI, media_id: str) -> str:
    async with app.state.sessionmaker() as session:
        media = await session.get(Media, uuid.UUID(media_id))
        assert media is not None
        return str(media.storage_key)


async def _pending_to(app: FastAPI, user_id: uuid.UUID) -> int:
    async with app.state.sessionmaker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(col(Delivery.user_id) == user_id, col(Delivery.state) == "pending")
        )
    return int(count or 0)


async def test_a_wrong_password_is_401_and_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    busy = await busy_resident(app, client)
    before = sorted(map(repr, await every_row(app)))
    wrong = await erase(client, busy.erin, password="not my password at all")
    assert wrong.status_code == 401
    assert wrong.json()["type"].endswith("reauthentication-failed")
    neither = await erase(client, busy.erin, password=PASSWORD, firebase_id_token="x")
    assert neither.status_code == 422
    assert sorted(map(repr, await every_row(app))) == before
    assert (await client.get("/v1/me", headers=busy.erin.headers)).status_code == 200


async def test_a_stolen_token_cannot_guess_the_password(app_factory: AppFactory) -> None:
    # Failed confirmations count as failed sign-ins: the same limits stop the guessing.
    async with app_factory(login_failures_per_pair=3) as (_app, client):
        ann = await new_account(client)
        codes = [(await erase(client, ann, password=f"guess {n}")).status_code for n in range(4)]
        assert codes == [401, 401, 401, 429]
        assert (await erase(client, ann)).status_code == 429  # even the right one, for now


async def test_an_owner_with_members_must_hand_over_first(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner, member = await new_account(client), await new_account(client)
    shared = await new_group(client, owner, name="Shared close")
    alone = await new_group(client, owner, name="Only me")
    assert (await join(client, member, shared["id"])).status_code in (200, 201)
    refused = await erase(client, owner)
    assert refused.status_code == 409
    assert refused.json()["groups"] == [{"id": shared["id"], "name": "Shared close"}]
    assert (await client.get("/v1/me", headers=owner.headers)).status_code == 200
    handed = await client.patch(
        f"/v1/groups/{shared['id']}/members/{member.id}",
        headers=owner.headers,
        json={"role": "owner"},
    )
    assert handed.status_code == 200, handed.text
    assert (await erase(client, owner)).status_code == 204
    seen = await client.get(f"/v1/groups/{alone['id']}", headers=member.headers)
    assert seen.status_code == 404  # archived
    assert (await client.get(f"/v1/groups/{shared['id']}", headers=member.headers)).json()[
        "my_role"
    ] == "owner"


async def test_an_admin_erases_another_account_with_their_own_password(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    ann = await new_account(client)
    incident = (await report(client, ann, anonymous=False)).json()
    path = f"/v1/admin/users/{ann.id}"
    wrong = await client.request("DELETE", path, headers=admin.headers, json={"password": "nope"})
    assert wrong.status_code == 401
    by_resident = await client.request(
        "DELETE", path, headers=ann.headers, json={"password": ann.password}
    )
    assert by_resident.status_code == 403
    done = await client.request(
        "DELETE", path, headers=admin.headers, json={"password": admin.password}
    )
    assert done.status_code == 204
    assert (await client.get("/v1/me", headers=ann.headers)).status_code == 401
    seen = (await client.get(f"/v1/incidents/{incident['id']}", headers=admin.headers)).json()
    assert seen["anonymous"] is True
    assert seen.get("reporter") is None
    async with app.state.sessionmaker() as session:
        erasures = (await session.execute(select(Erasure))).scalars().all()
    assert [(e.requested_by, e.admin_id) for e in erasures] == [("admin", admin.id)]
    missing = await client.request(
        "DELETE", path, headers=admin.headers, json={"password": admin.password}
    )
    assert missing.status_code == 404


async def test_the_last_admin_cannot_be_erased(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await new_admin(app, client)
    assert (await erase(client, admin)).status_code == 409
    other = await new_admin(app, client)
    assert (await erase(client, admin)).status_code == 204
    assert (await client.get("/v1/me", headers=other.headers)).status_code == 200


@pytest.fixture
async def live(app_factory: AppFactory) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with app_factory(ws_ping_s=0.05) as both:
        yield both


async def test_the_erased_users_websockets_close_4401(
    live: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = live
    ann, bob = await new_account(client), await new_account(client)
    first = await live_connection(app, ann.access_token)
    second = await live_connection(app, ann.access_token)
    bobs = await live_connection(app, bob.access_token)
    assert (await erase(client, ann)).status_code == 204
    assert await close_code(first) == 4401
    assert await close_code(second) == 4401
    assert (await bobs.receive(pings=True))["type"] == "ping"  # nobody else's
    again = WsClient(app)
    async with again:
        await again.auth(ann.access_token)
        with pytest.raises(Closed) as closed:
            await again.receive(pings=True)
        assert closed.value.code == 4401
    for ws in (first, second, bobs):
        await ws.__aexit__()


async def test_websockets_close_in_every_process(
    app_factory: AppFactory, live_redis_url: str
) -> None:
    shared = {"redis_url": live_redis_url, "ws_ping_s": 0.05}
    async with app_factory(**shared) as (_one, client), app_factory(**shared) as (other, _):
        ann = await new_account(client)
        elsewhere = await live_connection(other, ann.access_token)
        assert (await erase(client, ann)).status_code == 204
        assert await close_code(elsewhere) == 4401
        await elsewhere.__aexit__()


# The Auth emulator's tokens are refused in the scaled shape: the embedded one only.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_an_account_without_a_password_confirms_with_firebase(
    app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.auth.test_firebase import PROJECT, emulator_token

    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
    async with app_factory(firebase_project_id=PROJECT) as (_app, client):
        signed = await client.post(
            "/v1/auth/firebase", json={"id_token": emulator_token("uid-fay", name="Fay")}
        )
        assert signed.status_code == 200, signed.text
        headers = {"Authorization": f"Bearer {signed.json()['access_token']}"}
        body = {"password": "anything at all"}
        no_password = await client.request("DELETE", "/v1/me", headers=headers, json=body)
        assert no_password.status_code == 401
        someone_else = {"firebase_id_token": emulator_token("uid-mallory")}
        wrong = await client.request("DELETE", "/v1/me", headers=headers, json=someone_else)
        assert wrong.status_code == 401
        right = {"firebase_id_token": emulator_token("uid-fay")}
        done = await client.request("DELETE", "/v1/me", headers=headers, json=right)
        assert done.status_code == 204
        assert (await client.get("/v1/me", headers=headers)).status_code == 401
