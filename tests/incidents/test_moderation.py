"""The moderation state machine: every legal and illegal move, and who may make them."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.auth.factories import new_account
from tests.groups.factories import join, new_group, outbox_events, verify
from tests.incidents.factories import report

PATHS = {
    "verified": ["submitted"],
    "rejected": ["submitted"],
    "forwarded": ["submitted", "verified"],
    "resolved": ["submitted", "verified"],
}
STATES = ["submitted", "verified", "rejected", "forwarded", "resolved"]
LEGAL = {
    ("submitted", "verified"),
    ("submitted", "rejected"),
    ("verified", "forwarded"),
    ("verified", "resolved"),
    ("forwarded", "resolved"),
}
EXTRA = {
    "rejected": {"note": "Duplicate of an earlier report"},
    "forwarded": {"police_reference": "CAD 1234/23NOV"},
}


async def move(
    client: httpx.AsyncClient, who: dict[str, str], incident_id: str, status: str
) -> httpx.Response:
    return await client.post(
        f"/v1/incidents/{incident_id}/transitions",
        headers=who,
        json={"status": status, **EXTRA.get(status, {})},
    )


async def reach(
    client: httpx.AsyncClient, who: dict[str, str], incident_id: str, state: str
) -> None:
    route = {
        "submitted": [],
        "verified": ["verified"],
        "rejected": ["rejected"],
        "forwarded": ["verified", "forwarded"],
        "resolved": ["verified", "resolved"],
    }
    for step in route[state]:
        assert (await move(client, who, incident_id, step)).status_code == 200


@pytest.mark.parametrize("start", STATES)
async def test_every_transition(app: FastAPI, client: httpx.AsyncClient, start: str) -> None:
    owner, reporter = await new_account(client), await new_account(client)
    group = await new_group(client, owner, join_policy="open")
    await verify(app, client, group["id"])
    await join(client, reporter, group["id"])
    for target in STATES:
        incident = (await report(client, reporter)).json()
        await reach(client, owner.headers, incident["id"], start)
        answer = await move(client, owner.headers, incident["id"], target)
        expected = 200 if (start, target) in LEGAL else 409
        assert answer.status_code == expected, (start, target, answer.text)
        if expected == 200:
            assert answer.json()["status"] == target


async def test_only_moderators_transition_and_reasons_are_required(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner, reporter, member = (
        await new_account(client),
        await new_account(client),
        await new_account(client),
    )
    group = await new_group(client, owner, join_policy="open")
    await verify(app, client, group["id"])
    for person in (reporter, member):
        await join(client, person, group["id"])
    incident = (await report(client, reporter)).json()
    for who in (reporter, member):
        assert (await move(client, who.headers, incident["id"], "verified")).status_code == 403
    outsider = await new_account(client)
    assert (await move(client, outsider.headers, incident["id"], "verified")).status_code == 404
    no_reason = await client.post(
        f"/v1/incidents/{incident['id']}/transitions",
        headers=owner.headers,
        json={"status": "rejected"},
    )
    assert no_reason.json()["errors"][0]["field"] == "note"
    verified = await move(client, owner.headers, incident["id"], "verified")
    assert verified.status_code == 200
    no_ref = await client.post(
        f"/v1/incidents/{incident['id']}/transitions",
        headers=owner.headers,
        json={"status": "forwarded"},
    )
    assert no_ref.json()["errors"][0]["field"] == "police_reference"
    await move(client, owner.headers, incident["id"], "forwarded")
    history = await client.get(f"/v1/incidents/{incident['id']}/history", headers=owner.headers)
    assert [(h["from_status"], h["to_status"]) for h in history.json()] == [
        ("submitted", "verified"),
        ("verified", "forwarded"),
    ]
    assert history.json()[1]["police_reference"] == "CAD 1234/23NOV"
    assert (
        await client.get(f"/v1/incidents/{incident['id']}/history", headers=member.headers)
    ).status_code == 403
    changed = await outbox_events(app, "incident.status_changed")
    assert [(e["status"], e["reporter_id"]) for e in changed] == [
        ("verified", str(reporter.id)),
        ("forwarded", str(reporter.id)),
    ]
    verified_events = await outbox_events(app, "incident.verified")
    assert verified_events == [{"incident_id": incident["id"], "group_ids": [group["id"]]}]
