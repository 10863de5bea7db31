"""Who may do what to a group: every endpoint, every kind of caller, public and private.

Each cell runs against a fresh group, so that a destructive call in one cell cannot
change the answer of another. A private group must look exactly like a group that does
not exist to anyone outside it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from app.groups.models import Membership
from tests.auth.factories import Account, new_account, new_admin
from tests.conftest import AppFactory
from tests.groups.factories import invite, new_group

ROLES = ["anonymous", "non_member", "pending", "member", "coordinator", "owner", "agency", "admin"]

# endpoint: {role: (public group, private group)}
EXPECTED: dict[str, dict[str, tuple[int, int]]] = {
    "read_group": {
        "anonymous": (401, 401),
        "non_member": (200, 404),
        "pending": (200, 200),
        "member": (200, 200),
        "coordinator": (200, 200),
        "owner": (200, 200),
        "agency": (200, 404),
        "admin": (200, 200),
    },
    "update_group": {
        "anonymous": (401, 401),
        "non_member": (403, 404),
        "pending": (403, 403),
        "member": (403, 403),
        "coordinator": (200, 200),
        "owner": (200, 200),
        "agency": (403, 404),
        "admin": (200, 200),
    },
    "archive_group": {
        "anonymous": (401, 401),
        "non_member": (403, 404),
        "pending": (403, 403),
        "member": (403, 403),
        "coordinator": (204, 204),
        "owner": (204, 204),
        "agency": (403, 404),
        "admin": (204, 204),
    },
    "join_group": {
        "anonymous": (401, 401),
        "non_member": (201, 404),
        "pending": (200, 200),
        "member": (200, 200),
        "coordinator": (200, 200),
        "owner": (200, 200),
        "agency": (201, 404),
        "admin": (201, 201),
    },
    "list_members": {
        "anonymous": (401, 401),
        "non_member": (403, 404),
        "pending": (403, 403),
        "member": (200, 200),
        "coordinator": (200, 200),
        "owner": (200, 200),
        "agency": (403, 404),
        "admin": (200, 200),
    },
    "ban_member": {
        "anonymous": (401, 401),
        "non_member": (403, 404),
        "pending": (403, 403),
        "member": (403, 403),
        "coordinator": (200, 200),
        "owner": (200, 200),
        "agency": (403, 404),
        "admin": (200, 200),
    },
    "remove_member": {
        "anonymous": (401, 401),
        "non_member": (403, 404),
        "pending": (403, 403),
        "member": (403, 403),
        "coordinator": (204, 204),
        "owner": (204, 204),
        "agency": (403, 404),
        "admin": (204, 204),
    },
    "create_invitation": {
        "anonymous": (401, 401),
        "non_member": (403, 404),
        "pending": (403, 403),
        "member": (403, 403),
        "coordinator": (201, 201),
        "owner": (201, 201),
        "agency": (403, 404),
        "admin": (201, 201),
    },
    "accept_invitation": {
        "anonymous": (401, 401),
        "non_member": (201, 201),
        "pending": (200, 200),
        "member": (200, 200),
        "coordinator": (200, 200),
        "owner": (200, 200),
        "agency": (201, 201),
        "admin": (201, 201),
    },
}


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient
    accounts: dict[str, Account]
    other: Account  # an ordinary member, the target of ban/remove


async def make_world(app: FastAPI, client: httpx.AsyncClient) -> World:
    accounts = {
        role: await new_account(client, display_name=role)
        for role in ROLES
        if role not in ("anonymous", "admin")
    }
    accounts["admin"] = await new_admin(app, client)
    promoted = await client.patch(
        f"/v1/admin/users/{accounts['agency'].id}",
        headers=accounts["admin"].headers,
        json={"role": "agency"},
    )
    assert promoted.status_code == 200
    return World(app, client, accounts, await new_account(client, display_name="other"))


async def fresh_group(world: World, visibility: str) -> str:
    group = await new_group(
        world.client, world.accounts["owner"], visibility=visibility, join_policy="request"
    )
    gid = uuid.UUID(group["id"])
    async with world.app.state.sessionmaker() as session, session.begin():
        for account, role, status in (
            (world.accounts["coordinator"], "coordinator", "active"),
            (world.accounts["member"], "member", "active"),
            (world.other, "member", "active"),
            (world.accounts["pending"], "member", "pending"),
        ):
            session.add(Membership(group_id=gid, user_id=account.id, role=role, status=status))
    return str(gid)


Call = Callable[[World, str, dict[str, str]], Awaitable[httpx.Response]]


async def _accept(world: World, gid: str, headers: dict[str, str]) -> httpx.Response:
    code = await invite(world.client, world.accounts["owner"], gid)
    return await world.client.post(f"/v1/invitations/{code}/accept", headers=headers)


CALLS: dict[str, Call] = {
    "read_group": lambda w, g, h: w.client.get(f"/v1/groups/{g}", headers=h),
    "update_group": lambda w, g, h: w.client.patch(
        f"/v1/groups/{g}", headers=h, json={"description": "changed"}
    ),
    "archive_group": lambda w, g, h: w.client.delete(f"/v1/groups/{g}", headers=h),
    "join_group": lambda w, g, h: w.client.post(f"/v1/groups/{g}/join", headers=h, json={}),
    "list_members": lambda w, g, h: w.client.get(f"/v1/groups/{g}/members", headers=h),
    "ban_member": lambda w, g, h: w.client.patch(
        f"/v1/groups/{g}/members/{w.other.id}", headers=h, json={"status": "banned"}
    ),
    "remove_member": lambda w, g, h: w.client.delete(
        f"/v1/groups/{g}/members/{w.other.id}", headers=h
    ),
    "create_invitation": lambda w, g, h: w.client.post(
        f"/v1/groups/{g}/invitations", headers=h, json={}
    ),
    "accept_invitation": _accept,
}


def _comparable(answer: httpx.Response) -> dict[str, object]:
    body: dict[str, object] = answer.json()
    return {k: v for k, v in body.items() if k not in ("request_id", "instance")}


@pytest.fixture
async def app_and_client(
    app_factory: AppFactory,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    # One owner makes a fresh group for every role asked about: far more than the few
    # unverified groups a resident may own, which tests/groups/test_verification.py covers.
    async with app_factory(max_unverified_groups=1_000) as pair:
        yield pair


@pytest.mark.parametrize("endpoint", list(EXPECTED))
async def test_authorization_matrix(app: FastAPI, client: httpx.AsyncClient, endpoint: str) -> None:
    world = await make_world(app, client)
    wrong: list[str] = []
    for private, visibility in enumerate(("public", "private")):
        for role in ROLES:
            gid = await fresh_group(world, visibility)
            headers = {} if role == "anonymous" else world.accounts[role].headers
            answer = await CALLS[endpoint](world, gid, headers)
            want = EXPECTED[endpoint][role][private]
            if answer.status_code != want:
                wrong.append(
                    f"{endpoint} {visibility} as {role}: {answer.status_code} != {want}"
                    f" ({answer.text[:120]})"
                )
            if want == 404:
                # Indistinguishable from a group that was never created.
                missing = await CALLS[endpoint](world, str(uuid.uuid4()), headers)
                if _comparable(answer) != _comparable(missing):
                    wrong.append(f"{endpoint} {visibility} as {role}: 404 differs from missing")
    assert wrong == []


async def test_private_groups_are_listed_only_for_their_members(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    world = await make_world(app, client)
    gid = await fresh_group(world, "private")
    for role in ("non_member", "agency", "admin", "pending", "member", "coordinator", "owner"):
        listed = await client.get("/v1/groups", headers=world.accounts[role].headers)
        ids = [g["id"] for g in listed.json()["items"]]
        assert (gid in ids) == (role in ("pending", "member", "coordinator", "owner")), role
