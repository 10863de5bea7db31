"""Issuing alerts: who may, where, and what readers, issuers and recipients then see."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from tests.alerts.factories import (
    LONDON,
    SURREY,
    alert_body,
    circle,
    in_hours,
    issue,
    new_agency,
    watch,
)
from tests.auth.factories import new_account, new_admin
from tests.groups.factories import join, new_group, outbox_events


async def test_agency_issues_inside_its_jurisdiction(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    answer = await issue(client, officer)
    assert answer.status_code == 201, answer.text
    alert = answer.json()
    assert alert["issuer"] == {"id": str(officer.id), "display_name": "PC Plod", "kind": "agency"}
    assert alert["active"] is True
    assert alert["exercise"] is False
    assert alert["msg_type"] == "alert"
    assert alert["actions"][1]["url"] == "https://www.police.uk/"
    events = await outbox_events(app, "alert.issued")
    assert [e["alert_id"] for e in events] == [alert["id"]]
    outside = await issue(client, officer, area=circle(SURREY, 500))
    assert outside.status_code == 403
    assert "jurisdiction" in outside.json()["detail"]


async def test_residents_and_agencies_without_jurisdiction_cannot_issue(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    resident = await new_account(client)
    assert (await issue(client, resident)).status_code == 403
    admin = await new_admin(app, client)
    officer = await new_account(client)
    await client.patch(
        f"/v1/admin/users/{officer.id}", headers=admin.headers, json={"role": "agency"}
    )
    assert (await issue(client, officer)).status_code == 403
    # An admin may alert anywhere.
    assert (await issue(client, admin, area=circle(SURREY, 500))).status_code == 201


async def test_coordinator_issues_for_their_group_inside_its_area(
    client: httpx.AsyncClient,
) -> None:
    owner = await new_account(client)
    group = await new_group(client, owner, area=circle(LONDON, 1_500))
    default_area = await issue(client, owner, group_id=group["id"], area=None)
    assert default_area.status_code == 201, default_area.text
    assert default_area.json()["area"] == group["area"]
    assert default_area.json()["issuer"]["kind"] == "coordinator"
    outside = await issue(client, owner, group_id=group["id"], area=circle(LONDON, 3_000))
    assert outside.status_code == 422
    assert outside.json()["errors"][0]["field"] == "area"
    other_owner = await new_account(client)
    other = await new_group(client, other_owner, area=circle(LONDON, 1_500))
    assert (await issue(client, owner, group_id=other["id"])).status_code == 403
    private = await new_group(client, other_owner, visibility="private")
    assert (await issue(client, owner, group_id=private["id"])).status_code == 404
    member = await new_account(client)
    await join(client, member, group["id"])
    assert (await issue(client, member, group_id=group["id"])).status_code == 403


async def test_validation_of_an_alert(app: FastAPI, client: httpx.AsyncClient) -> None:
    officer = await new_agency(app, client)
    too_late = await issue(client, officer, expires_at=in_hours(24 * 8))
    assert too_late.json()["errors"][0]["field"] == "expires_at"
    past = await issue(client, officer, expires_at=in_hours(-1))
    assert past.json()["errors"][0]["field"] == "expires_at"
    bad = await client.post(
        "/v1/alerts",
        headers=officer.headers,
        json=alert_body(
            severity="apocalyptic",
            category="weather",
            expires_at="tomorrow",
            actions=[{"text": ""}],
            surprise=1,
        ),
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {
        "severity",
        "category",
        "expires_at",
        "actions.0.text",
        "surprise",
    }
    no_area = await issue(client, officer, area=None)
    assert no_area.status_code == 422


async def test_group_alert_is_private_to_its_recipients(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner, near, far, outsider = (
        await new_account(client),
        await new_account(client),
        await new_account(client),
        await new_account(client),
    )
    group = await new_group(client, owner, area=circle(LONDON, 1_750), join_policy="open")
    for member in (near, far):
        await join(client, member, group["id"])
    await watch(client, near, LONDON, 300)
    await watch(client, far, (-0.1076, 51.5072), 300)  # in the group, 1.4 km from the alert
    await watch(client, outsider, LONDON, 300)  # in the area but not a member
    alert = (await issue(client, owner, group_id=group["id"], area=circle(LONDON, 800))).json()
    path = f"/v1/alerts/{alert['id']}"
    assert (await client.get(path, headers=near.headers)).status_code == 200
    assert (await client.get(path, headers=owner.headers)).status_code == 200
    assert (await client.get(path, headers=far.headers)).status_code == 404
    assert (await client.get(path, headers=outsider.headers)).status_code == 404
    mine = (await client.get("/v1/alerts", headers=near.headers)).json()["items"]
    assert [a["id"] for a in mine] == [alert["id"]]
    assert (await client.get("/v1/alerts", headers=outsider.headers)).json()["items"] == []


async def test_update_and_cancel_make_a_chain(app: FastAPI, client: httpx.AsyncClient) -> None:
    officer = await new_agency(app, client)
    resident = await new_account(client)
    await watch(client, resident, LONDON)
    first = (await issue(client, officer)).json()
    updated = await client.post(
        f"/v1/alerts/{first['id']}/update",
        headers=officer.headers,
        json={"severity": "severe", "body": "Now five sheds."},
    )
    assert updated.status_code == 201, updated.text
    second = updated.json()
    assert second["version"] == 2
    assert second["references"] == first["id"]
    assert second["msg_type"] == "update"
    assert second["title"] == first["title"]
    old = (await client.get(f"/v1/alerts/{first['id']}", headers=resident.headers)).json()
    assert old["active"] is False
    stale = await client.post(
        f"/v1/alerts/{first['id']}/update", headers=officer.headers, json={"severity": "minor"}
    )
    assert stale.status_code == 409
    other = await new_agency(app, client)
    assert (
        await client.post(f"/v1/alerts/{second['id']}/cancel", headers=other.headers, json={})
    ).status_code == 403
    cancelled = (
        await client.post(
            f"/v1/alerts/{second['id']}/cancel",
            headers=officer.headers,
            json={"reason": "A suspect was arrested this morning."},
        )
    ).json()
    assert cancelled["body"] == "A suspect was arrested this morning."
    assert cancelled["msg_type"] == "cancel"
    assert cancelled["references"] == second["id"]
    assert cancelled["active"] is False
    assert (await client.get("/v1/alerts", headers=resident.headers)).json()["items"] == []
    history = (
        await client.get("/v1/alerts", headers=resident.headers, params={"active": "false"})
    ).json()["items"]
    assert [a["id"] for a in history] == [cancelled["id"]]
    assert [e["alert_id"] for e in await outbox_events(app, "alert.updated")] == [second["id"]]
    assert [e["alert_id"] for e in await outbox_events(app, "alert.cancelled")] == [cancelled["id"]]


async def test_expired_alert_is_no_longer_active(app: FastAPI, client: httpx.AsyncClient) -> None:
    officer = await new_agency(app, client)
    resident = await new_account(client)
    await watch(client, resident, LONDON)
    alert = (await issue(client, officer)).json()
    assert len((await client.get("/v1/alerts", headers=resident.headers)).json()["items"]) == 1
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE alerts SET expires_at = issued_at"))
    assert (await client.get("/v1/alerts", headers=resident.headers)).json()["items"] == []
    read = (await client.get(f"/v1/alerts/{alert['id']}", headers=resident.headers)).json()
    assert read["active"] is False
    late = await client.post(
        f"/v1/alerts/{alert['id']}/update", headers=officer.headers, json={"severity": "minor"}
    )
    assert late.status_code == 409


async def test_acks_are_idempotent_and_stats_count_only(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    residents = [await new_account(client) for _ in range(3)]
    for r in residents:
        await watch(client, r, LONDON)
    elsewhere = await new_account(client)
    await watch(client, elsewhere, SURREY)
    alert = (await issue(client, officer)).json()
    path = f"/v1/alerts/{alert['id']}"
    first = await client.post(f"{path}/ack", headers=residents[0].headers, json={"kind": "seen"})
    assert first.status_code == 201
    again = await client.post(f"{path}/ack", headers=residents[0].headers, json={"kind": "seen"})
    assert again.status_code == 200
    await client.post(f"{path}/ack", headers=residents[0].headers, json={"kind": "acted"})
    await client.post(f"{path}/ack", headers=residents[1].headers, json={"kind": "dismissed"})
    bad = await client.post(f"{path}/ack", headers=residents[1].headers, json={"kind": "liked"})
    assert bad.status_code == 422
    stats = await client.get(f"{path}/stats", headers=officer.headers)
    assert stats.status_code == 200
    body = stats.json()
    # Counted, but shown rounded: under ten is "<10", and two acks time no median.
    assert body["recipients"] == "<10"
    assert body["acks"] == {"seen": "<10", "acted": "<10", "dismissed": "<10"}
    assert body["median_ack_s"] is None
    assert set(body) == {
        "recipients",
        "push",
        "realtime_delivered",
        "acks",
        "actions",
        "median_ack_s",
    }
    assert {a["acted"] for a in body["actions"]} == {"<10"}  # counts too, never who
    assert (await client.get(f"{path}/stats", headers=residents[0].headers)).status_code == 403


async def test_test_alerts_reach_only_the_issuer_and_exercises_say_so(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    resident = await new_account(client)
    await watch(client, resident, LONDON)
    test_alert = (await issue(client, officer, status="test")).json()
    assert (
        await client.get(f"/v1/alerts/{test_alert['id']}", headers=resident.headers)
    ).status_code == 404
    stats = (
        await client.get(f"/v1/alerts/{test_alert['id']}/stats", headers=officer.headers)
    ).json()
    assert stats["recipients"] == "<10"  # the issuer alone; rounded like any reach figure
    exercise = (await issue(client, officer, status="exercise")).json()
    assert exercise["exercise"] is True
    mine = (await client.get("/v1/alerts", headers=resident.headers)).json()["items"]
    assert [(a["id"], a["exercise"]) for a in mine] == [(exercise["id"], True)]
    issued = (
        await client.get("/v1/alerts", headers=officer.headers, params={"scope": "issued"})
    ).json()["items"]
    assert {a["id"] for a in issued} == {test_alert["id"], exercise["id"]}
