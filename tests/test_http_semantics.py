"""HTTP semantics every route shares: a 204 has no body and says nothing about one, and
a 405 lists in `Allow` every method the path serves (RFC 9110 §15.3.5, §15.5.6)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from app.integrations.cap_in.models import CapSource
from tests.alerts.factories import LONDON, watch
from tests.auth.factories import (
    PASSWORD,
    ApiClientCredentials,
    client_headers,
    new_account,
    new_admin,
)
from tests.groups.factories import join, new_group
from tests.push.factories import device
from tests.test_problems import assert_problem

PROBES = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _concrete(path: str) -> str:
    """The path with every parameter filled in (`{id}`, and `{code}.json` as Open311 has
    them); a 405 comes before any lookup."""
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


async def test_every_path_answers_405_with_all_its_methods_in_allow(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    probed = 0
    for path, operations in paths.items():
        served = {method.upper() for method in operations}
        for probe in (m for m in PROBES if m not in served):
            answer = await client.request(probe, _concrete(path))
            assert_problem(answer, 405)
            assert set(answer.headers["allow"].split(", ")) == served, (probe, path)
            probed += 1
    assert probed > len(paths)


async def test_405_on_a_path_of_several_routes_names_them_all(client: httpx.AsyncClient) -> None:
    # GET and POST /v1/incidents are two routes; Starlette's own answer named one.
    answer = await client.put("/v1/incidents")
    body = assert_problem(answer, 405)
    assert answer.headers["allow"] == "GET, POST"
    assert "allowed: GET, POST" in str(body["detail"])


def _no_content(answer: httpx.Response) -> None:
    assert answer.status_code == 204, answer.text
    assert answer.content == b""
    assert "content-type" not in answer.headers
    assert "content-length" not in answer.headers


async def test_every_204_has_no_content_type(app: FastAPI, client: httpx.AsyncClient) -> None:
    resident = await new_account(client)
    owner = await new_account(client)
    admin = await new_admin(app, client)
    answered: set[str] = set()

    async def expect_204(operation: str, method: str, url: str, **kwargs: Any) -> None:
        _no_content(await client.request(method, url, **kwargs))
        answered.add(operation)

    place = await watch(client, resident, LONDON)
    await expect_204(
        "delete_place", "DELETE", f"/v1/me/places/{place['id']}", headers=resident.headers
    )
    device_id = await device(client, resident, "token-for-the-204-test")
    await expect_204(
        "delete_device", "DELETE", f"/v1/devices/{device_id}", headers=resident.headers
    )
    group = await new_group(client, owner)
    assert (await join(client, resident, group["id"])).status_code == 201
    await expect_204(
        "remove_member",
        "DELETE",
        f"/v1/groups/{group['id']}/members/{resident.id}",
        headers=resident.headers,
    )
    await expect_204("archive_group", "DELETE", f"/v1/groups/{group['id']}", headers=owner.headers)
    await expect_204(
        "logout_session", "POST", "/v1/auth/logout", json={"refresh_token": resident.refresh_token}
    )
    await expect_204(
        "erase_user",
        "DELETE",
        f"/v1/admin/users/{owner.id}",
        headers=admin.headers,
        json={"password": PASSWORD},
    )
    made = await client.post(
        "/v1/admin/clients",
        headers=admin.headers,
        json={"name": "Council feed", "scopes": ["alerts:read"]},
    )
    assert made.status_code == 201, made.text
    await expect_204(
        "revoke_client",
        "DELETE",
        f"/v1/admin/clients/{made.json()['client_id']}",
        headers=admin.headers,
    )
    # Registered as the API would, without resolving a feed's host from here.
    async with app.state.sessionmaker() as session, session.begin():
        source = CapSource(
            url="https://alerts.example.org/feed.atom", name="Council", trust_sender="a@b"
        )
        session.add(source)
    await expect_204(
        "delete_cap_source", "DELETE", f"/v1/admin/cap-sources/{source.id}", headers=admin.headers
    )
    hooks = await client.post(
        "/v1/admin/clients",
        headers=admin.headers,
        json={"name": "Webhook feed", "scopes": ["webhooks"]},
    )
    assert hooks.status_code == 201, hooks.text
    hook_headers = await client_headers(
        client, ApiClientCredentials(hooks.json()["client_id"], hooks.json()["client_secret"], {})
    )
    # The URL is only judged, never called: nothing runs the webhook channel here.
    subscribed = await client.post(
        "/v1/webhooks",
        headers=hook_headers,
        json={"url": "https://8.8.8.8/hook", "events": ["alert.issued"]},
    )
    assert subscribed.status_code == 201, subscribed.text
    await expect_204(
        "delete_webhook",
        "DELETE",
        f"/v1/webhooks/{subscribed.json()['id']}",
        headers=hook_headers,
    )
    action = await client.post(
        "/v1/prevention-actions",
        headers=admin.headers,
        json={"category": "theft", "text": "Photograph your bike's frame number"},
    )
    assert action.status_code == 201, action.text
    await expect_204(
        "delete_prevention_action",
        "DELETE",
        f"/v1/prevention-actions/{action.json()['id']}",
        headers=admin.headers,
    )
    leaver = await new_account(client)  # not the admin: the last admin is never erased
    await expect_204(
        "erase_me", "DELETE", "/v1/me", headers=leaver.headers, json={"password": PASSWORD}
    )

    documented = {
        operation["operationId"]
        for operations in app.openapi()["paths"].values()
        for operation in operations.values()
        if "204" in operation["responses"]
    }
    assert answered == documented, "a 204 operation is not exercised here: add it"
