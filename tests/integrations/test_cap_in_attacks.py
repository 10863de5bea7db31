"""A hostile feed gets nothing: entity bombs and external entities refused before
anything is read, and no fetch of a private, loopback or metadata address, whether the
URL was registered, linked from an index, or has come to resolve there since."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from app.outbound.guard import Policy
from tests.auth.factories import new_admin
from tests.fakes.cap_feed import FeedServer
from tests.integrations.cap_factories import (
    atom_index,
    cap_document,
    logged,
    new_cap,
    poller_for,
    register,
    soon,
)
from tests.integrations.test_cap_parse import BILLION_LAUGHS, XXE

AppClient = tuple[FastAPI, httpx.AsyncClient]
ATTACKS = pytest.mark.parametrize("document", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe"])


@ATTACKS
async def test_an_entity_attack_served_as_a_document_is_logged_invalid(
    cap_app: AppClient, feed: FeedServer, document: bytes
) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    feed.put("/evil.xml", document)
    feed.put("/good.xml", cap_document(new_cap()))
    feed.put("/feed.atom", atom_index([feed.url("/evil.xml"), feed.url("/good.xml")]))
    source = await register(client, admin, feed.url("/feed.atom"))
    async with poller_for(app) as poller:
        await poller.poll_due(soon())
    by_path = {d["url"].rsplit("/", 1)[1]: d for d in await logged(client, admin, source["id"])}
    assert by_path["evil.xml"]["outcome"] == "invalid"
    assert by_path["evil.xml"]["reason"].startswith("refused: ")
    assert by_path["evil.xml"]["identifier"] is None  # nothing was read from it
    assert by_path["good.xml"]["outcome"] == "accepted"  # and it held nothing else back


@ATTACKS
async def test_an_entity_attack_served_as_the_index_fails_the_source(
    cap_app: AppClient, feed: FeedServer, document: bytes
) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    feed.put("/feed.atom", document, "application/atom+xml")
    source = await register(client, admin, feed.url("/feed.atom"))
    async with poller_for(app) as poller:
        await poller.poll_due(soon())
    detail = (
        await client.get(f"/v1/admin/cap-sources/{source['id']}", headers=admin.headers)
    ).json()
    assert detail["status"]["failures"] == 1
    assert detail["status"]["last_error"].startswith("not a CAP source: refused: ")
    assert detail["documents"] == {}


async def test_links_to_private_addresses_are_refused_unfetched(
    cap_app: AppClient, feed: FeedServer
) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    port = feed.port
    hostile = [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://10.0.0.1/cap.xml",
        f"http://localhost:{port}/good.xml",  # the exemption is of 127.0.0.1:port only
        f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}/cap.xml",
        "file:///etc/passwd",
    ]
    feed.put("/good.xml", cap_document(new_cap()))
    feed.put("/feed.atom", atom_index(hostile))
    source = await register(client, admin, feed.url("/feed.atom"))
    async with poller_for(app) as poller:
        await poller.poll_due(soon())
    docs = await logged(client, admin, source["id"])
    assert sorted(d["url"] for d in docs) == sorted(hostile)
    assert {d["outcome"] for d in docs} == {"refused"}
    assert all(d["reason"].startswith("refused: ") for d in docs), docs
    assert feed.requests_to("/good.xml") == []
    # Logged once: not tried again at every poll.
    async with poller_for(app) as poller:
        await poller.poll_due(soon(3600))
    assert len(await logged(client, admin, source["id"])) == len(hostile)


async def test_a_source_no_longer_allowed_is_refused_at_fetch(
    cap_app: AppClient, feed: FeedServer
) -> None:
    """Judged at every fetch, not only at registration: here the exemption is gone (as
    a name that resolved to a public address could come to resolve to a private one)."""
    app, client = cap_app
    admin = await new_admin(app, client)
    feed.put("/one.xml", cap_document(new_cap()))
    source = await register(client, admin, feed.url("/one.xml"))
    async with poller_for(app, Policy(allow_http=True)) as poller:
        assert await poller.poll_due(soon()) == 1
    assert feed.seen == []
    status = (
        await client.get(f"/v1/admin/cap-sources/{source['id']}", headers=admin.headers)
    ).json()["status"]
    assert status["failures"] == 1
    assert status["last_error"] == "refused: 127.0.0.1 is a loopback address"


async def test_an_oversized_document_is_refused_without_reading_it_all(
    cap_app: AppClient, feed: FeedServer
) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    feed.put("/huge.xml", b"<alert>" + b" " * 2_000_000 + b"</alert>")
    feed.put("/feed.atom", atom_index([feed.url("/huge.xml")]))
    source = await register(client, admin, feed.url("/feed.atom"))
    async with poller_for(app) as poller:
        await poller.poll_due(soon())
    [doc] = await logged(client, admin, source["id"])
    assert (doc["outcome"], doc["reason"]) == (
        "refused", "the answer is larger than 1,000,000 bytes",
    )  # fmt: skip
