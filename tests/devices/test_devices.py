"""Push tokens: upsert, moving between users, and privacy of each user's devices."""

from __future__ import annotations

import httpx

from tests.auth.factories import Account, new_account

TOKEN = "fcm-token-" + "a" * 140


async def register(
    client: httpx.AsyncClient, account: Account, token: str = TOKEN, **extra: str
) -> httpx.Response:
    body = {"fcm_token": token, "platform": "android", **extra}
    return await client.post("/v1/devices", headers=account.headers, json=body)


async def devices_of(client: httpx.AsyncClient, account: Account) -> list[dict[str, object]]:
    answer = await client.get("/v1/devices", headers=account.headers)
    assert answer.status_code == 200
    items: list[dict[str, object]] = answer.json()["items"]
    return items


async def test_register_is_201_then_200(client: httpx.AsyncClient) -> None:
    ann = await new_account(client)
    first = await register(client, ann, app_version="1.0.0")
    assert first.status_code == 201
    again = await register(client, ann, app_version="1.1.0", locale="en-GB")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["app_version"] == "1.1.0"
    assert "fcm_token" not in again.json()  # the token is a credential; never echoed
    assert [d["id"] for d in await devices_of(client, ann)] == [first.json()["id"]]


async def test_a_token_moves_to_whoever_registers_it(client: httpx.AsyncClient) -> None:
    ann, bob = await new_account(client), await new_account(client)
    mine = await register(client, ann)
    moved = await register(client, bob)
    assert moved.status_code == 201
    assert moved.json()["id"] != mine.json()["id"]
    assert await devices_of(client, ann) == []
    assert [d["id"] for d in await devices_of(client, bob)] == [moved.json()["id"]]
    gone = await client.delete(f"/v1/devices/{mine.json()['id']}", headers=ann.headers)
    assert gone.status_code == 404


async def test_nobody_sees_or_deletes_anothers_device(client: httpx.AsyncClient) -> None:
    ann, eve = await new_account(client), await new_account(client)
    device = (await register(client, ann)).json()
    assert await devices_of(client, eve) == []
    attempt = await client.delete(f"/v1/devices/{device['id']}", headers=eve.headers)
    assert attempt.status_code == 404
    assert attempt.json()["detail"] == "No such device."
    assert len(await devices_of(client, ann)) == 1
    assert (
        await client.delete(f"/v1/devices/{device['id']}", headers=ann.headers)
    ).status_code == 204
    assert await devices_of(client, ann) == []


async def test_listing_is_paginated_newest_first(client: httpx.AsyncClient) -> None:
    ann = await new_account(client)
    ids = [
        (await register(client, ann, token=f"token-{i:04d}-" + "b" * 40)).json()["id"]
        for i in range(5)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/devices", headers=ann.headers, params=params)).json()
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    bad = await client.get("/v1/devices", headers=ann.headers, params={"cursor": "%%%"})
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"


async def test_device_validation_names_fields(client: httpx.AsyncClient) -> None:
    ann = await new_account(client)
    answer = await client.post(
        "/v1/devices", headers=ann.headers, json={"fcm_token": "short", "platform": "symbian"}
    )
    assert answer.status_code == 422
    assert {e["field"] for e in answer.json()["errors"]} == {"fcm_token", "platform"}
    assert await devices_of(client, ann) == []
    assert (await client.get("/v1/devices")).status_code == 401


async def test_concurrent_registrations_of_one_token_make_one_device(
    client: httpx.AsyncClient,
) -> None:
    import asyncio

    ann = await new_account(client)
    answers = await asyncio.gather(*(register(client, ann) for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201]
    assert len(await devices_of(client, ann)) == 1
