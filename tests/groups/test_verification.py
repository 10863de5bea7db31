"""Group verification: who asks, who decides, what it changes, and the unverified limits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlmodel import col

from app import cli
from app.outbox.models import OutboxEvent
from app.push.audience import audience_of
from tests import databases
from tests.alerts.factories import circle, issue, new_agency
from tests.auth.factories import Account, new_account, new_admin
from tests.groups.factories import CAMDEN, LONDON, join, new_group, outbox_events, verify
from tests.incidents.factories import report

LEEDS = {"type": "Point", "coordinates": [-1.55, 53.8], "radius_m": 10_000}


async def ask(
    client: httpx.AsyncClient, owner: Account, group_id: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/groups/{group_id}/verification-requests", headers=owner.headers, json=body
    )


async def decide(
    client: httpx.AsyncClient, who: Account, group_id: str, decision: str, note: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"decision": decision, **({"note": note} if note else {})}
    return await client.post(f"/v1/groups/{group_id}/verification", headers=who.headers, json=body)


async def group_of(client: httpx.AsyncClient, who: Account, group_id: str) -> dict[str, Any]:
    answer = await client.get(f"/v1/groups/{group_id}", headers=who.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_a_new_group_is_unverified_and_its_owner_asks(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner, coordinator = await new_account(client), await new_account(client)
    group = await new_group(client, owner, join_policy="open")
    assert group["verification"] == "unverified"
    assert group["verified_at"] is None
    await join(client, coordinator, group["id"])
    assert (await ask(client, coordinator, group["id"])).status_code == 403
    asked = await ask(client, owner, group["id"], message="Registered with the Met, 40 homes")
    assert asked.status_code == 201, asked.text
    assert asked.json()["open"] is True
    assert asked.json()["group"]["id"] == group["id"]
    assert (await group_of(client, owner, group["id"]))["verification"] == "pending"
    again = await ask(client, owner, group["id"])
    assert again.status_code == 409


async def test_an_officer_decides_only_inside_their_jurisdiction(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner = await new_account(client, display_name="Owner")
    london = await new_group(client, owner, name="Elm Street", join_policy="open")
    leeds_owner = await new_account(client)
    leeds = await new_group(client, leeds_owner, name="Leeds", area={**LEEDS, "radius_m": 1_500})
    hidden = await new_group(client, leeds_owner, name="Hidden", visibility="private")
    for who, gid in ((owner, london["id"]), (leeds_owner, leeds["id"])):
        assert (await ask(client, who, gid)).status_code == 201
    officer = await new_agency(app, client)  # 20 km around central London
    elsewhere = await new_agency(app, client, jurisdiction=LEEDS)
    resident = await new_account(client)

    def listed(answer: httpx.Response) -> list[str]:
        assert answer.status_code == 200, answer.text
        return [r["group"]["id"] for r in answer.json()["items"]]

    pending = "/v1/verification-requests"
    assert listed(await client.get(pending, headers=officer.headers)) == [london["id"]]
    assert listed(await client.get(pending, headers=elsewhere.headers)) == [leeds["id"]]
    admin = await new_admin(app, client)
    assert set(listed(await client.get(pending, headers=admin.headers))) == {
        london["id"],
        leeds["id"],
    }
    assert (await client.get(pending, headers=resident.headers)).status_code == 403

    assert (await decide(client, elsewhere, london["id"], "verified")).status_code == 403
    # A private group outside the officer's jurisdiction does not exist for them.
    assert (await decide(client, elsewhere, hidden["id"], "verified")).status_code == 404
    assert (await decide(client, resident, london["id"], "verified")).status_code == 403
    assert (await decide(client, resident, hidden["id"], "verified")).status_code == 404
    assert (await decide(client, owner, london["id"], "verified")).status_code == 403

    no_reason = await decide(client, officer, london["id"], "rejected")
    assert no_reason.json()["errors"][0]["field"] == "note"
    done = await decide(client, officer, london["id"], "verified")
    assert done.status_code == 201, done.text
    assert done.json()["decided_by"] == "PC Plod"
    assert done.json()["verification"] == "verified"
    seen = await group_of(client, owner, london["id"])
    assert seen["verification"] == "verified"
    assert seen["verified_at"] is not None
    assert listed(await client.get(pending, headers=officer.headers)) == []
    assert (await decide(client, officer, london["id"], "verified")).status_code == 409
    assert (await decide(client, officer, london["id"], "rejected", "no")).status_code == 409

    # Every decision is recorded and reaches the owner, and nobody else.
    assert await outbox_events(app, "group.verification_decided") == [
        {"group_id": london["id"], "decision": "verified"}
    ]
    async with app.state.sessionmaker() as session:
        event = (
            await session.execute(
                select(OutboxEvent).where(
                    col(OutboxEvent.event_type) == "group.verification_decided"
                )
            )
        ).scalar_one()
        audience = await audience_of(session, event)
    assert audience is not None
    assert set(audience.silent) == {owner.id}
    assert audience.message["title"] == "Elm Street is now verified"

    suspended = await decide(client, elsewhere, leeds["id"], "suspended", "Vigilantism")
    assert suspended.status_code == 201
    assert (await group_of(client, leeds_owner, leeds["id"]))["verification"] == "suspended"
    assert (await ask(client, leeds_owner, leeds["id"])).status_code == 409


async def test_rejected_groups_may_ask_again(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner = await new_account(client)
    group = await new_group(client, owner)
    officer = await new_agency(app, client)
    assert (await decide(client, officer, group["id"], "rejected", "nothing")).status_code == 409
    await ask(client, owner, group["id"])
    rejected = await decide(client, officer, group["id"], "rejected", "Not registered yet")
    assert rejected.status_code == 201
    assert (await group_of(client, owner, group["id"]))["verification"] == "rejected"
    assert (await ask(client, owner, group["id"])).status_code == 201


async def test_changing_a_verified_groups_area_unverifies_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner = await new_account(client)
    group = await new_group(client, owner)
    await verify(app, client, group["id"])
    renamed = await client.patch(
        f"/v1/groups/{group['id']}", headers=owner.headers, json={"name": "Elm St", "area": LONDON}
    )
    assert renamed.json()["verification"] == "verified"  # the same area: still vetted
    moved = await client.patch(
        f"/v1/groups/{group['id']}", headers=owner.headers, json={"area": CAMDEN}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["verification"] == "unverified"
    assert moved.json()["verified_at"] is None
    decisions = [e["decision"] for e in await outbox_events(app, "group.verification_decided")]
    assert decisions == ["verified", "area_changed"]


async def test_only_reports_since_verification_are_moderated(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner, reporter = await new_account(client), await new_account(client)
    group = await new_group(client, owner, join_policy="open")
    await join(client, reporter, group["id"])
    before = (await report(client, reporter, anonymous=False)).json()

    async def moderate(incident_id: str) -> httpx.Response:
        return await client.post(
            f"/v1/incidents/{incident_id}/transitions",
            headers=owner.headers,
            json={"status": "verified"},
        )

    assert (await moderate(before["id"])).status_code == 403  # unverified group
    await verify(app, client, group["id"])
    after = (await report(client, reporter, anonymous=False)).json()
    assert (await moderate(before["id"])).status_code == 403  # filed before verification
    seen_before = (await client.get(f"/v1/incidents/{before['id']}", headers=owner.headers)).json()
    assert seen_before["location_exact"] is False
    assert (await moderate(after["id"])).status_code == 200
    seen_after = (await client.get(f"/v1/incidents/{after['id']}", headers=owner.headers)).json()
    assert seen_after["location_exact"] is True
    listed = (await client.get("/v1/incidents", headers=owner.headers)).json()["items"]
    assert {i["id"]: i["location_exact"] for i in listed} == {
        before["id"]: False,
        after["id"]: True,
    }
    # An agency officer moderates either, whatever any group's state.
    officer = await new_agency(app, client)
    reject = await client.post(
        f"/v1/incidents/{before['id']}/transitions",
        headers=officer.headers,
        json={"status": "rejected", "note": "duplicate"},
    )
    assert reject.status_code == 200


async def test_a_resident_owns_few_small_unverified_groups(
    app_factory: Any,
) -> None:
    async with app_factory(max_unverified_groups=2) as (app, client):
        owner = await new_account(client)
        too_big = await client.post(
            "/v1/groups",
            headers=owner.headers,
            json={"name": "Big", "area": circle((-0.1276, 51.5072), 1_800)},
        )
        assert too_big.status_code == 422
        assert too_big.json()["errors"][0]["field"] == "area.radius_m"
        big_square = {
            "type": "Polygon",
            "coordinates": [
                [[-0.2, 51.5], [-0.15, 51.5], [-0.15, 51.53], [-0.2, 51.53], [-0.2, 51.5]]
            ],
        }  # ~11.6 km²
        polygon = await client.post(
            "/v1/groups", headers=owner.headers, json={"name": "Big", "area": big_square}
        )
        assert polygon.status_code == 422
        first = await new_group(client, owner)
        await new_group(client, owner)
        third = await client.post(
            "/v1/groups", headers=owner.headers, json={"name": "Third", "area": LONDON}
        )
        assert third.status_code == 409
        assert third.json()["type"].endswith("unverified-group-limit")
        await verify(app, client, first["id"])  # a verified group does not count
        assert (
            await client.post(
                "/v1/groups", headers=owner.headers, json={"name": "Third", "area": LONDON}
            )
        ).status_code == 201
        # Agency officers and admins start groups of any size the API accepts.
        officer = await new_agency(app, client)
        large = await client.post(
            "/v1/groups", headers=officer.headers, json={"name": "Borough", "area": big_square}
        )
        assert large.status_code == 201, large.text


@pytest.mark.parametrize("severity", ["severe", "extreme"])
async def test_unverified_groups_alert_at_most_moderate(
    app: FastAPI, client: httpx.AsyncClient, severity: str
) -> None:
    owner = await new_account(client)
    group = await new_group(client, owner)
    refused = await issue(client, owner, group_id=group["id"], severity=severity, area=None)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "severity"
    fine = await issue(client, owner, group_id=group["id"], severity="moderate", area=None)
    assert fine.status_code == 201, fine.text
    raised = await client.post(
        f"/v1/alerts/{fine.json()['id']}/update", headers=owner.headers, json={"severity": severity}
    )
    assert raised.status_code == 422
    await verify(app, client, group["id"])
    vetted = await issue(client, owner, group_id=group["id"], severity=severity, area=None)
    assert vetted.status_code == 201, vetted.text
    officer = await new_agency(app, client)
    assert (
        await issue(client, officer, severity=severity, area=circle((-0.1276, 51.5072), 500))
    ).status_code == 201


async def test_operators_verify_from_the_command_line(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await new_account(client)
    group = await new_group(client, owner)
    monkeypatch.setenv("NW_DATABASE_URL", database_url)
    assert databases.in_thread(cli.main, ["verify-group", group["id"]]) == 0
    assert (await group_of(client, owner, group["id"]))["verification"] == "verified"
    again = databases.in_thread(cli.main, ["verify-group", group["id"]])
    assert again == 1  # already verified: said, not done twice
    no_note = ["verify-group", group["id"], "--decision", "suspended"]
    assert databases.in_thread(cli.main, no_note) == 1
    assert databases.in_thread(cli.main, [*no_note, "--note", "Complaints"]) == 0
    assert (await group_of(client, owner, group["id"]))["verification"] == "suspended"
    assert databases.in_thread(cli.main, ["verify-group", "not-a-uuid"]) == 2


async def test_an_area_changed_while_pending_goes_back_to_unverified(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # The officer reads the request with the area they are to vet; an owner who then
    # moves the group to a doorstep must not have the doorstep verified unseen.
    officer = await new_agency(app, client)
    owner = await new_account(client)
    group = await new_group(client, owner, area=circle((-0.1276, 51.5072), 1_000))
    assert (await ask(client, owner, group["id"])).status_code == 201
    moved = await client.patch(
        f"/v1/groups/{group['id']}",
        headers=owner.headers,
        json={"area": circle((-0.1276, 51.55), 25)},
    )
    assert moved.json()["verification"] == "unverified"
    listed = await client.get("/v1/verification-requests", headers=officer.headers)
    assert listed.json()["items"] == []
    assert (await decide(client, officer, group["id"], "rejected", "gone")).status_code == 409
    assert (await ask(client, owner, group["id"])).status_code == 201  # asks anew


async def test_a_suspended_group_cannot_go_on_sending_severe_versions(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    owner = await new_account(client)
    group = await new_group(client, owner)
    assert (await decide(client, officer, group["id"], "verified")).status_code == 201
    severe = await issue(client, owner, group_id=group["id"], severity="severe", area=None)
    assert severe.status_code == 201, severe.text
    await decide(client, officer, group["id"], "suspended", "Vigilantism")
    again = await client.post(
        f"/v1/alerts/{severe.json()['id']}/update",
        headers=owner.headers,
        json={"body": "Armed man seen at number 12. Stay inside."},
    )
    assert again.status_code == 422
    assert again.json()["errors"][0]["field"] == "severity"
    calmer = await client.post(
        f"/v1/alerts/{severe.json()['id']}/update",
        headers=owner.headers,
        json={"severity": "moderate", "body": "Police are on the scene."},
    )
    assert calmer.status_code == 201, calmer.text
    cancelled = await client.post(
        f"/v1/alerts/{calmer.json()['id']}/cancel", headers=owner.headers, json={}
    )
    assert cancelled.status_code == 201


async def test_ownership_is_not_a_way_round_the_unverified_limit(app_factory: Any) -> None:
    async with app_factory(max_unverified_groups=1) as (app, client):
        giver, taker = await new_account(client), await new_account(client)
        await new_group(client, taker)  # the one they may own
        given = await new_group(client, giver, join_policy="open")
        await join(client, taker, given["id"])
        handed = await client.patch(
            f"/v1/groups/{given['id']}/members/{taker.id}",
            headers=giver.headers,
            json={"role": "owner"},
        )
        assert handed.status_code == 409
        assert handed.json()["type"].endswith("unverified-group-limit")
        await verify(app, client, given["id"])
        vetted = await client.patch(
            f"/v1/groups/{given['id']}/members/{taker.id}",
            headers=giver.headers,
            json={"role": "owner"},
        )
        assert vetted.status_code == 200, vetted.text
