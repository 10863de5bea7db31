"""Registering CAP sources: admins only, rate limited, the URL judged as a webhook's is
(its form and the addresses its host resolves to), bad input answered as a problem."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.alerts.factories import new_agency
from tests.auth.factories import new_account, new_admin
from tests.conftest import AppFactory
from tests.fakes.cap_feed import FeedServer
from tests.integrations.cap_factories import SENDER, register

AppClient = tuple[FastAPI, httpx.AsyncClient]
PATH = "/v1/admin/cap-sources"


def body(url: str, **fields: Any) -> dict[str, Any]:
    return {"url": url, "name": "Riverside Council", "trust": {"sender": SENDER}, **fields}


async def test_admins_register_list_read_and_delete_sources(
    cap_app: AppClient, feed: FeedServer
) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    officer = await new_agency(app, client)
    square = {
        "type": "Polygon",
        "coordinates": [[[-0.2, 51.4], [0.0, 51.4], [0.0, 51.6], [-0.2, 51.6], [-0.2, 51.4]]],
    }
    made = [
        await register(
            client,
            admin,
            feed.url(f"/feed{i}.atom"),
            agency_user_id=str(officer.id) if i == 0 else None,
            trust={"allowed_area": square} if i == 1 else {},
        )
        for i in range(3)
    ]
    assert made[0]["agency_user_id"] == str(officer.id)
    assert made[1]["trust"] == {"sender": SENDER, "allowed_area": square}
    assert made[2]["status"]["failures"] == 0
    assert made[2]["status"]["last_polled_at"] is None

    first = await client.get(PATH, headers=admin.headers, params={"limit": 2})
    assert first.status_code == 200
    rest = await client.get(
        PATH, headers=admin.headers, params={"limit": 2, "cursor": first.json()["next_cursor"]}
    )
    listed = [s["id"] for s in first.json()["items"] + rest.json()["items"]]
    assert listed == [s["id"] for s in reversed(made)]
    assert rest.json()["next_cursor"] is None

    one = await client.get(f"{PATH}/{made[0]['id']}", headers=admin.headers)
    assert one.status_code == 200
    assert one.json()["documents"] == {}
    assert one.json()["url"] == feed.url("/feed0.atom")

    assert (
        await client.delete(f"{PATH}/{made[0]['id']}", headers=admin.headers)
    ).status_code == 204
    gone = await client.get(f"{PATH}/{made[0]['id']}", headers=admin.headers)
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"
    again = await client.delete(f"{PATH}/{made[0]['id']}", headers=admin.headers)
    assert again.status_code == 404


async def test_only_admins_manage_sources(cap_app: AppClient, feed: FeedServer) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    source = await register(client, admin, feed.url("/feed.atom"))
    for caller in (await new_account(client), await new_agency(app, client)):
        for method, path in [
            ("POST", PATH),
            ("GET", PATH),
            ("GET", f"{PATH}/{source['id']}"),
            ("GET", f"{PATH}/{source['id']}/documents"),
            ("DELETE", f"{PATH}/{source['id']}"),
        ]:
            answer = await client.request(
                method,
                path,
                headers=caller.headers,
                json=body(feed.url("/other.atom")) if method == "POST" else None,
            )
            assert answer.status_code == 403, (method, path, answer.text)
    assert (await client.get(PATH)).status_code == 401


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:9/feed.atom", "only https"),  # not the allowed port: plain http
        ("https://127.0.0.1/feed.atom", "loopback"),
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("https://10.1.2.3/feed.atom", "private"),
        ("https://[::1]/feed.atom", "loopback"),
        ("https://localhost/feed.atom", "resolves to a loopback address"),
        ("https://user:secret@example.org/feed.atom", "user name or password"),
        ("ftp://example.org/feed.atom", "only https"),
        ("https://no-such-host.invalid/feed.atom", "does not resolve"),
    ],
)
async def test_urls_the_poller_may_not_fetch_are_refused_at_registration(
    cap_app: AppClient, url: str, reason: str
) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    answer = await client.post(PATH, headers=admin.headers, json=body(url))
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert problem["errors"][0]["field"] == "url"
    assert reason in problem["errors"][0]["message"]
    assert (await client.get(PATH, headers=admin.headers)).json()["items"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"unknown": 1}, "unknown"),
        ({"trust": {}}, "trust.sender"),
        ({"trust": {"sender": SENDER, "extra": True}}, "trust.extra"),
        ({"name": "bad\u202ename"}, "name"),
        ({"url": ""}, "url"),
        ({"agency_user_id": "not-a-uuid"}, "agency_user_id"),
        ({"trust": {"sender": SENDER, "allowed_area": {"type": "Polygon", "coordinates": [[
            [0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}}}, "trust.allowed_area.coordinates"),
    ],
)  # fmt: skip
async def test_bad_input_is_a_problem_naming_the_field(
    cap_app: AppClient, feed: FeedServer, change: dict[str, Any], field: str
) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    answer = await client.post(
        PATH, headers=admin.headers, json={**body(feed.url("/feed.atom")), **change}
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"][0]["field"].startswith(field), answer.json()


async def test_the_officer_must_be_one_and_a_url_is_registered_once(
    cap_app: AppClient, feed: FeedServer
) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    resident = await new_account(client)
    answer = await client.post(
        PATH,
        headers=admin.headers,
        json=body(feed.url("/feed.atom"), agency_user_id=str(resident.id)),
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "agency_user_id"
    await register(client, admin, feed.url("/feed.atom"))
    twice = await client.post(PATH, headers=admin.headers, json=body(feed.url("/feed.atom")))
    assert twice.status_code == 409
    assert twice.json()["type"].endswith("duplicate-source")
    bad_id = await client.get(f"{PATH}/nope", headers=admin.headers)
    assert bad_id.status_code == 422


async def test_registrations_and_deletions_are_rate_limited(
    app_factory: AppFactory, feed: FeedServer
) -> None:
    async with app_factory(cap_allowed_hosts=feed.host, cap_source_changes_per_hour=2) as (
        app,
        client,
    ):
        admin = await new_admin(app, client)
        first = await register(client, admin, feed.url("/1.atom"))
        assert (
            await client.delete(f"{PATH}/{first['id']}", headers=admin.headers)
        ).status_code == 204
        third = await client.post(PATH, headers=admin.headers, json=body(feed.url("/3.atom")))
        assert third.status_code == 429
        assert int(third.headers["retry-after"]) > 0
        assert third.headers["content-type"] == "application/problem+json"
        # Reading is not counted.
        assert (await client.get(PATH, headers=admin.headers)).status_code == 200
