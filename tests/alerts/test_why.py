"""`why` on GET /v1/alerts/{id}: the caller's own places or groups that made them a
recipient, silence and its reason, what an `extreme` alert overrode; and the matched
place ids in the push. Never anyone else's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from app.push.dispatcher import Dispatcher
from app.push.senders import PushMessage
from app.push.shaping import build_message
from tests.alerts.factories import LONDON, SURREY, circle, issue, new_agency, watch
from tests.auth.factories import Account, new_account
from tests.groups.factories import join, new_group
from tests.push.factories import RecordingSender, device, drain

# 300 m east of LONDON: inside a 1 km alert around it, outside a 200 m one.
EAST = (LONDON[0] + 0.0043, LONDON[1])


async def why(client: httpx.AsyncClient, who: Account, alert_id: str) -> dict[str, Any] | None:
    answer = await client.get(f"/v1/alerts/{alert_id}", headers=who.headers)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] | None = answer.json()["why"]
    return found


def quiet_now() -> dict[str, str]:
    """Quiet hours that hold now."""
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    return {"start": f"{start:%H:%M}", "end": f"{end:%H:%M}", "timezone": "UTC"}


async def test_why_names_the_callers_places_that_matched_and_rides_in_the_push(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    ann, bob, far = [await new_account(client) for _ in range(3)]
    home = await watch(client, ann, LONDON, label="Home")
    work = await watch(client, ann, EAST, radius_m=100, label="Work")
    await watch(client, ann, SURREY, label="Mum's")  # not touched
    bobs = await watch(client, bob, LONDON, label="Bob's flat")
    await watch(client, far, SURREY)
    await device(client, ann, "token-ann-" + "a" * 20)
    await device(client, bob, "token-bob-" + "b" * 20)
    alert = (await issue(client, officer, area=circle(LONDON, 1_000))).json()
    assert await why(client, ann, alert["id"]) is None  # not sent out yet

    sender = RecordingSender()
    await drain(Dispatcher(app.state.sessionmaker, sender))
    mine = await why(client, ann, alert["id"])
    assert mine is not None
    assert sorted(mine["places"], key=lambda p: p["label"]) == [
        {"id": home["id"], "label": "Home"},
        {"id": work["id"], "label": "Work"},
    ]
    assert mine["groups"] == []
    assert (mine["silent"], mine["quiet_hours"], mine["overrode"]) == (False, None, [])
    # Bob's names only Bob's place; the issuer and a resident it missed get none.
    bobs_why = await why(client, bob, alert["id"])
    assert bobs_why is not None
    assert bobs_why["places"] == [{"id": bobs["id"], "label": "Bob's flat"}]
    assert await why(client, officer, alert["id"]) is None
    assert await why(client, far, alert["id"]) is None

    pushed = {m.token.split("-")[1]: m for m in sender.sent}
    assert set(pushed) == {"ann", "bob"}
    data = {
        who: _data(m, now=datetime.now(UTC))["place_ids"].split(",") for who, m in pushed.items()
    }
    assert sorted(data["ann"]) == sorted([home["id"], work["id"]])
    assert data["bob"] == [bobs["id"]]

    # A place renamed since shows its name now; one removed, its id without a label.
    await client.patch(f"/v1/me/places/{home['id']}", headers=ann.headers, json={"label": "Flat"})
    await client.delete(f"/v1/me/places/{work['id']}", headers=ann.headers)
    later = await why(client, ann, alert["id"])
    assert later is not None
    assert sorted(later["places"], key=lambda p: p["id"]) == sorted(
        [{"id": home["id"], "label": "Flat"}, {"id": work["id"], "label": None}],
        key=lambda p: str(p["id"]),
    )


def _data(message: PushMessage, now: datetime) -> dict[str, str]:
    """The data of the FCM message made of it."""
    data: dict[str, str] = build_message(message, now).data
    return data


async def test_why_names_the_group_areas_of_a_resident_with_no_place(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    owner, member = await new_account(client), await new_account(client)
    group = await new_group(client, owner, name="Elm Street Watch")
    assert (await join(client, member, group["id"])).status_code in (200, 201)
    await new_group(client, await new_account(client), name="Not hers")  # same area
    await device(client, member, "token-member-" + "m" * 20)
    alert = (await issue(client, officer, area=circle(LONDON, 1_000))).json()
    sender = RecordingSender()
    await drain(Dispatcher(app.state.sessionmaker, sender))

    got = await why(client, member, alert["id"])
    assert got is not None
    assert got["places"] == []
    assert got["groups"] == [{"id": group["id"], "name": "Elm Street Watch"}]
    assert "place_ids" not in _data(sender.sent[0], datetime.now(UTC))
    # The owner, also placeless, is there by the same group; the issuer is not.
    owners = await why(client, owner, alert["id"])
    assert owners is not None
    assert owners["groups"] == [{"id": group["id"], "name": "Elm Street Watch"}]


async def test_quiet_hours_say_it_came_silently_and_give_the_window(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    resident = await new_account(client)
    place = await watch(client, resident, LONDON)
    window = quiet_now()
    answer = await client.put(
        "/v1/me/preferences", headers=resident.headers, json={"quiet_hours": window}
    )
    assert answer.status_code == 200, answer.text
    alert = (await issue(client, officer, severity="severe")).json()
    await drain(Dispatcher(app.state.sessionmaker, RecordingSender()))

    got = await why(client, resident, alert["id"])
    assert got is not None
    assert got["places"] == [{"id": place["id"], "label": "Home"}]
    assert (got["silent"], got["quiet_hours"], got["overrode"]) == (True, window, [])

    # Quiet hours changed since: `why` still says what was decided when it went out.
    await client.put("/v1/me/preferences", headers=resident.headers, json={})
    again = await why(client, resident, alert["id"])
    assert again is not None
    assert (again["silent"], again["quiet_hours"]) == (True, window)


async def test_an_extreme_alert_says_what_of_the_preferences_it_overrode(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    muted, everything, plain = [await new_account(client) for _ in range(3)]
    for who in (muted, everything, plain):
        await watch(client, who, LONDON)
    await client.put(
        "/v1/me/preferences", headers=muted.headers, json={"muted_categories": ["burglary"]}
    )
    await client.put(
        "/v1/me/preferences",
        headers=everything.headers,
        json={
            "muted_categories": ["burglary"],
            "min_severity": "severe",
            "quiet_hours": quiet_now(),
        },
    )
    ordinary = (await issue(client, officer, category="burglary")).json()
    extreme = (await issue(client, officer, category="burglary", severity="extreme")).json()
    await drain(Dispatcher(app.state.sessionmaker, RecordingSender()))

    # The muted category keeps the ordinary alert away: no `why` for them.
    assert await why(client, muted, ordinary["id"]) is None
    assert await why(client, everything, ordinary["id"]) is None
    plain_why = await why(client, plain, ordinary["id"])
    assert plain_why is not None
    assert plain_why["overrode"] == []

    got = await why(client, muted, extreme["id"])
    assert got is not None
    assert (got["silent"], got["overrode"]) == (False, ["muted_category"])
    got = await why(client, everything, extreme["id"])
    assert got is not None
    assert (got["silent"], got["quiet_hours"]) == (False, None)
    assert got["overrode"] == ["muted_category", "quiet_hours"]  # no min_severity is above it
    plain_extreme = await why(client, plain, extreme["id"])
    assert plain_extreme is not None
    assert plain_extreme["overrode"] == []


async def test_an_update_that_moves_away_still_says_why_it_reached_them(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """An update reaches everyone an earlier version reached, so its `why` names the
    place the earlier version touched."""
    officer = await new_agency(app, client)
    resident = await new_account(client)
    place = await watch(client, resident, EAST, radius_m=100)
    first = (await issue(client, officer, area=circle(LONDON, 1_000))).json()
    await drain(Dispatcher(app.state.sessionmaker, RecordingSender()))
    moved = await client.post(
        f"/v1/alerts/{first['id']}/update",
        headers=officer.headers,
        json={"area": circle(LONDON, 200)},
    )
    assert moved.status_code == 201, moved.text
    await drain(Dispatcher(app.state.sessionmaker, RecordingSender()))
    for version in (first, moved.json()):
        got = await why(client, resident, version["id"])
        assert got is not None
        assert got["places"] == [{"id": place["id"], "label": "Home"}]


async def test_why_is_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    ok = spec["paths"]["/v1/alerts/{alert_id}"]["get"]["responses"]["200"]
    schema = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "why" in spec["components"]["schemas"][schema]["properties"]
