"""List cursors are opaque, but a client can craft one: a bad one is a 400 naming `cursor`."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import pytest

from tests.auth.factories import new_account

LISTS = ["/v1/incidents", "/v1/groups", "/v1/me/places"]
# Naive, and aware ones whose conversion to UTC leaves the years datetime can hold.
INSTANTS = ["2026-11-23T10:00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"]


def crafted(created_at: str) -> str:
    raw = json.dumps([created_at, str(uuid.uuid4())]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("path", LISTS)
async def test_a_crafted_cursor_is_a_400_naming_the_cursor(
    client: httpx.AsyncClient, path: str
) -> None:
    ann = await new_account(client)
    for instant in INSTANTS:
        answer = await client.get(path, headers=ann.headers, params={"cursor": crafted(instant)})
        assert answer.status_code == 400, (instant, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["errors"][0]["field"] == "cursor", answer.text


async def test_a_cursor_this_api_issued_still_pages(client: httpx.AsyncClient) -> None:
    ann = await new_account(client)
    for label in ("Home", "Work", "Gran's"):
        body = {
            "label": label,
            "location": {"type": "Point", "coordinates": [-0.1276, 51.5072]},
            "radius_m": 500,
        }
        assert (await client.post("/v1/me/places", headers=ann.headers, json=body)).is_success
    first = (await client.get("/v1/me/places", headers=ann.headers, params={"limit": 2})).json()
    rest = await client.get(
        "/v1/me/places", headers=ann.headers, params={"cursor": first["next_cursor"]}
    )
    assert rest.status_code == 200, rest.text
    assert len(first["items"]) + len(rest.json()["items"]) == 3
