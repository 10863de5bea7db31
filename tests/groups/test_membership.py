"""Join policies, invitations, bans, roles and ownership, as residents meet them."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from tests.auth.factories import new_account
from tests.groups.factories import CAMDEN, invite, join, new_group, outbox_events, set_member


async def test_creator_is_owner_and_counts(client: httpx.AsyncClient) -> None:
    owner = await new_account(client)
    group = await new_group(client, owner, description="Our street", join_policy="open")
    assert group["my_role"] == "owner"
    assert group["my_status"] == "active"
    assert group["member_count"] == 1
    assert group["visibility"] == "public"
    other = await new_account(client)
    seen = (await client.get(f"/v1/groups/{group['id']}", headers=other.headers)).json()
    assert seen["my_role"] is None
    assert seen["member_count"] == 1


async def test_open_group_joins_at_once(client: httpx.AsyncClient) -> None:
    owner, ann = await new_account(client), await new_account(client)
    group = await new_group(client, owner, join_policy="open")
    first = await join(client, ann, group["id"])
    assert first.status_code == 201
    assert first.json() | {"status": "active", "role": "member"} == first.json()
    again = await join(client, ann, group["id"])
    assert again.status_code == 200
    count = (await client.get(f"/v1/groups/{group['id']}", headers=ann.headers)).json()
    assert count["member_count"] == 2


async def test_request_group_waits_for_approval(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner, ann = await new_account(client), await new_account(client)
    group = await new_group(client, owner, join_policy="request")
    asked = await client.post(
        f"/v1/groups/{group['id']}/join", headers=ann.headers, json={"message": "I live at no. 12"}
    )
    assert asked.json()["status"] == "pending"
    assert await outbox_events(app, "membership.requested") == [
        {"group_id": group["id"], "user_id": str(ann.id)}
    ]
    # A pending member is not counted and cannot see the member list.
    assert (await client.get(f"/v1/groups/{group['id']}", headers=owner.headers)).json()[
        "member_count"
    ] == 1
    listing = await client.get(f"/v1/groups/{group['id']}/members", headers=ann.headers)
    assert listing.status_code == 403
    pending = await client.get(
        f"/v1/groups/{group['id']}/members", headers=owner.headers, params={"status": "pending"}
    )
    assert [(m["user_id"], m["message"]) for m in pending.json()["items"]] == [
        (str(ann.id), "I live at no. 12")
    ]
    approved = await set_member(client, owner, group["id"], ann, status="active")
    assert approved.json()["status"] == "active"
    assert await outbox_events(app, "membership.approved") == [
        {"group_id": group["id"], "user_id": str(ann.id)}
    ]


async def test_invite_only_group_needs_a_code(client: httpx.AsyncClient) -> None:
    owner, ann = await new_account(client), await new_account(client)
    group = await new_group(client, owner, join_policy="invite")
    assert (await join(client, ann, group["id"])).status_code == 403
    code = await invite(client, owner, group["id"])
    accepted = await client.post(f"/v1/invitations/{code}/accept", headers=ann.headers)
    assert accepted.status_code == 201
    assert accepted.json()["status"] == "active"
    again = await client.post(f"/v1/invitations/{code}/accept", headers=ann.headers)
    assert again.status_code == 200


async def test_invitation_use_limit_holds_under_concurrency(client: httpx.AsyncClient) -> None:
    owner = await new_account(client)
    group = await new_group(client, owner, join_policy="invite")
    code = await invite(client, owner, group["id"], max_uses=2)
    people = [await new_account(client) for _ in range(5)]
    answers = await asyncio.gather(
        *(client.post(f"/v1/invitations/{code}/accept", headers=p.headers) for p in people)
    )
    assert sorted(a.status_code for a in answers) == [201, 201, 410, 410, 410]
    group_now = (await client.get(f"/v1/groups/{group['id']}", headers=owner.headers)).json()
    assert group_now["member_count"] == 3


async def test_expired_and_unknown_invitations(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner, ann = await new_account(client), await new_account(client)
    group = await new_group(client, owner, join_policy="invite")
    code = await invite(client, owner, group["id"], expires_in_s=60)
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE invitations SET expires_at = created_at"))
    expired = await client.post(f"/v1/invitations/{code}/accept", headers=ann.headers)
    assert expired.status_code == 410
    unknown = await client.post("/v1/invitations/nope/accept", headers=ann.headers)
    assert unknown.status_code == 404
    bad = await client.post(
        f"/v1/groups/{group['id']}/invitations",
        headers=owner.headers,
        json={"max_uses": 0, "expires_in_s": 10},
    )
    assert {e["field"] for e in bad.json()["errors"]} == {"max_uses", "expires_in_s"}


async def test_private_group_is_reached_only_by_invitation(client: httpx.AsyncClient) -> None:
    owner, ann = await new_account(client), await new_account(client)
    group = await new_group(client, owner, visibility="private", join_policy="request")
    assert (await client.get(f"/v1/groups/{group['id']}", headers=ann.headers)).status_code == 404
    assert (await join(client, ann, group["id"])).status_code == 404
    listed = await client.get("/v1/groups", headers=ann.headers)
    assert group["id"] not in [g["id"] for g in listed.json()["items"]]
    code = await invite(client, owner, group["id"])
    assert (
        await client.post(f"/v1/invitations/{code}/accept", headers=ann.headers)
    ).status_code == 201
    assert (await client.get(f"/v1/groups/{group['id']}", headers=ann.headers)).status_code == 200


async def test_banned_user_cannot_rejoin_until_unbanned(client: httpx.AsyncClient) -> None:
    owner, troll = await new_account(client), await new_account(client)
    group = await new_group(client, owner, join_policy="open")
    await join(client, troll, group["id"])
    banned = await set_member(client, owner, group["id"], troll, status="banned")
    assert banned.json()["status"] == "banned"
    assert (await join(client, troll, group["id"])).status_code == 403
    code = await invite(client, owner, group["id"])
    assert (
        await client.post(f"/v1/invitations/{code}/accept", headers=troll.headers)
    ).status_code == 403
    # Leaving does not lift one's own ban.
    gone = await client.delete(
        f"/v1/groups/{group['id']}/members/{troll.id}", headers=troll.headers
    )
    assert gone.status_code == 403
    # A coordinator lifts it (by removing the ban); then the user may join again.
    lifted = await client.delete(
        f"/v1/groups/{group['id']}/members/{troll.id}", headers=owner.headers
    )
    assert lifted.status_code == 204
    assert (await join(client, troll, group["id"])).status_code == 201


async def test_roles_and_ownership_handover(client: httpx.AsyncClient) -> None:
    owner, coord, ann = (
        await new_account(client),
        await new_account(client),
        await new_account(client),
    )
    group = await new_group(client, owner, join_policy="open")
    gid = group["id"]
    await join(client, coord, gid)
    await join(client, ann, gid)
    assert (await set_member(client, owner, gid, coord, role="coordinator")).status_code == 200
    # A coordinator may approve and ban members, but not change roles or touch peers.
    assert (await set_member(client, coord, gid, ann, role="coordinator")).status_code == 403
    assert (await set_member(client, coord, gid, owner, status="banned")).status_code == 409
    # The owner cannot leave while owner.
    leave = await client.delete(f"/v1/groups/{gid}/members/{owner.id}", headers=owner.headers)
    assert leave.status_code == 409
    handed = await set_member(client, owner, gid, ann, role="owner")
    assert handed.json()["role"] == "owner"
    roles = {
        m["user_id"]: m["role"]
        for m in (await client.get(f"/v1/groups/{gid}/members", headers=ann.headers)).json()[
            "items"
        ]
    }
    assert roles == {
        str(owner.id): "coordinator",
        str(coord.id): "coordinator",
        str(ann.id): "owner",
    }
    assert (
        await client.delete(f"/v1/groups/{gid}/members/{owner.id}", headers=owner.headers)
    ).status_code == 204
    # Demotion by the new owner.
    demoted = await set_member(client, ann, gid, coord, role="member")
    assert demoted.json()["role"] == "member"


async def test_members_see_display_names_never_emails(client: httpx.AsyncClient) -> None:
    owner, ann = (
        await new_account(client, display_name="Owen"),
        await new_account(client, display_name="Ann"),
    )
    group = await new_group(client, owner, join_policy="open")
    await join(client, ann, group["id"])
    members = (await client.get(f"/v1/groups/{group['id']}/members", headers=ann.headers)).json()[
        "items"
    ]
    assert sorted(m["display_name"] for m in members) == ["Ann", "Owen"]
    assert "@" not in str(members)
    # Members do not get to see pending requests.
    assert (
        await client.get(
            f"/v1/groups/{group['id']}/members", headers=ann.headers, params={"status": "pending"}
        )
    ).status_code == 403


async def test_update_and_archive(client: httpx.AsyncClient) -> None:
    owner, ann = await new_account(client), await new_account(client)
    group = await new_group(client, owner, join_policy="open")
    await join(client, ann, group["id"])
    changed = await client.patch(
        f"/v1/groups/{group['id']}",
        headers=owner.headers,
        json={"name": "Camden Watch", "area": CAMDEN},
    )
    assert changed.status_code == 200
    assert changed.json()["area"] == CAMDEN
    assert (
        await client.patch(
            f"/v1/groups/{group['id']}", headers=ann.headers, json={"name": "Mine now"}
        )
    ).status_code == 403
    assert (
        await client.delete(f"/v1/groups/{group['id']}", headers=owner.headers)
    ).status_code == 204
    assert (await client.get(f"/v1/groups/{group['id']}", headers=ann.headers)).status_code == 404
    mine = (await client.get("/v1/me/groups", headers=ann.headers)).json()["items"]
    assert mine == []


async def test_discovery_near_a_point_and_by_name(client: httpx.AsyncClient) -> None:
    owner = await new_account(client)
    camden = await new_group(client, owner, name="Camden Watch", area=CAMDEN)
    far = await new_group(
        client,
        owner,
        name="Leeds Watch",
        area={"type": "Point", "coordinates": [-1.55, 53.8], "radius_m": 1_500},
    )
    ann = await new_account(client)

    async def found(**params: str | int) -> list[str]:
        answer = await client.get("/v1/groups", headers=ann.headers, params=params)
        assert answer.status_code == 200, answer.text
        return [g["id"] for g in answer.json()["items"]]

    assert await found(near="-0.14,51.535", radius_m=100) == [camden["id"]]
    assert await found(near="-1.55,53.81") == [far["id"]]
    assert await found(near="2.35,48.85") == []
    assert await found(q="leeds") == [far["id"]]
    assert await found(q="%") == []
    assert set(await found()) == {camden["id"], far["id"]}
    bad = await client.get("/v1/groups", headers=ann.headers, params={"near": "north"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "near"


async def test_my_groups_lists_memberships(client: httpx.AsyncClient) -> None:
    owner, ann = await new_account(client), await new_account(client)
    a = await new_group(client, owner, join_policy="open")
    b = await new_group(client, owner, join_policy="request")
    await join(client, ann, a["id"])
    await join(client, ann, b["id"])
    mine = (await client.get("/v1/me/groups", headers=ann.headers)).json()["items"]
    assert {(m["group_id"], m["status"]) for m in mine} == {
        (a["id"], "active"),
        (b["id"], "pending"),
    }
    assert mine[0]["group"]["name"] == "Elm Street Watch"
