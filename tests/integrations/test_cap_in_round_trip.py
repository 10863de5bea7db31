"""Our CAP output and our CAP intake agree: every document our API publishes for an
alert issued, updated and cancelled (polygon, circle and multi-polygon areas), polled
by a second deployment on a database of its own, gives the same alerts back there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests import databases
from tests.alerts.factories import LONDON, circle, issue, new_agency
from tests.auth.factories import new_admin
from tests.conftest import AppFactory
from tests.fakes.cap_feed import FeedServer
from tests.integrations.cap_factories import atom_index, logged, poller_for, register, soon
from tests.integrations.test_cap_parse import SQUARE, TWO_SQUARES, close

EAST_SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[-0.11, 51.50], [-0.10, 51.50], [-0.10, 51.51], [-0.11, 51.51], [-0.11, 51.50]]
    ],
}
COMPARED = ("title", "body", "category", "severity", "urgency", "certainty", "msg_type", "version")


@pytest.fixture
async def second_database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    """Another database, made as every test's is (tests/databases.py)."""
    if backend == "sqlite":
        directory = tmp_path / "second"
        directory.mkdir()
        yield databases.sqlite_clone(request.getfixturevalue("sqlite_template"), directory)
        return
    template: databases.PostgresTemplate = request.getfixturevalue("postgres_template")
    name = await template.clone()
    try:
        yield databases.with_database(databases.POSTGRES_URL, name)
    finally:
        await databases.postgres_admin_async(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_our_cap_documents_come_back_as_the_same_alerts(
    app_factory: AppFactory, feed: FeedServer, second_database_url: str
) -> None:
    async with (
        app_factory() as (ours, client),
        app_factory(database_url=second_database_url, cap_allowed_hosts=feed.host) as (
            theirs,
            their_client,
        ),
    ):

        async def publish(path: str) -> tuple[int, bytes, str]:
            answer = await client.get(path)
            return answer.status_code, answer.content, answer.headers["content-type"].split(";")[0]

        feed.proxy = publish  # the feed serves our public CAP documents
        officer = await new_agency(ours, client)
        chains: list[list[dict[str, Any]]] = []
        for area in (SQUARE, circle(LONDON, 1_500), TWO_SQUARES):
            made = await issue(client, officer, area=area, severity="severe")
            assert made.status_code == 201, made.text
            chains.append([made.json()])

        their_admin = await new_admin(theirs, their_client)
        sender = ours.state.settings.cap_sender
        source = await register(
            their_client, their_admin, feed.url("/feed.atom"), sender=sender, name="Neighbourwatch"
        )

        async def sync(step: int) -> None:
            # Newest first, as feeds list them.
            links = [feed.url(f"/v1/cap/alerts/{a['id']}") for c in chains for a in c]
            feed.put("/feed.atom", atom_index(links[::-1]), "application/atom+xml")
            async with poller_for(theirs) as poller:
                assert await poller.poll_due(soon(step * 120)) == 1

        await sync(1)
        changes = [
            {"title": "Now two vans", "area": EAST_SQUARE, "actions": [{"text": "Lock up"}]},
            {"severity": "extreme", "urgency": "immediate", "body": "Seen again on Elm Street."},
            {"actions": [{"text": "Call 101", "url": "https://www.police.uk/"}]},
        ]
        for chain, change in zip(chains, changes, strict=True):
            updated = await client.post(
                f"/v1/alerts/{chain[-1]['id']}/update", headers=officer.headers, json=change
            )
            assert updated.status_code == 201, updated.text
            chain.append(updated.json())
        await sync(2)
        for chain in chains:
            cancelled = await client.post(
                f"/v1/alerts/{chain[-1]['id']}/cancel",
                headers=officer.headers,
                json={"reason": "Arrests made; thank you for your reports."},
            )
            assert cancelled.status_code == 201, cancelled.text
            chain.append(cancelled.json())
        await sync(3)

        docs = await logged(their_client, their_admin, source["id"], limit="100")
        assert len(docs) == 9
        assert {d["outcome"] for d in docs} == {"accepted"}, docs
        became = {d["identifier"]: d["alert_id"] for d in docs}
        for chain in chains:
            got = []
            for version in chain:
                answer = await their_client.get(
                    f"/v1/alerts/{became[version['id']]}", headers=their_admin.headers
                )
                assert answer.status_code == 200, answer.text
                got.append(answer.json())
            for mine, back in zip(chain, got, strict=True):
                for key in COMPARED:
                    assert back[key] == mine[key], (key, mine, back)
                assert back["actions"] == mine["actions"]
                assert close(back["area"], mine["area"]), (mine["area"], back["area"])
                assert back["expires_at"][:19] == mine["expires_at"][:19]
                assert back["active"] is False  # all over now, there as here
            # One chain there as here: each version references the one before it.
            assert [g["references"] for g in got] == [None, got[0]["id"], got[1]["id"]]
            assert [g["msg_type"] for g in got] == ["alert", "update", "cancel"]
