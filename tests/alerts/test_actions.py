"""Alerts take their actions from the prevention library by id as well as free text;
residents acting say which they took; the issuer sees, per action, how many (rounded);
the resident's export holds what they named, and erasure leaves anonymous counts."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.alerts.models import Ack, AckAction
from app.evidence.prevention import BY_KEY
from tests.alerts.factories import LONDON, issue, new_agency, watch
from tests.auth.factories import Account, new_account, new_admin
from tests.privacy.test_erasure import erase

CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
SHED = BY_KEY["burglary.shed"]
ADVICE = BY_KEY["burglary.advice"]  # one with a link
FREE = {"text": "Report sightings", "url": "https://www.police.uk/"}
MIXED = [{"action_id": str(SHED.id)}, FREE, {"action_id": str(ADVICE.id)}]


async def _issued(app: FastAPI, client: httpx.AsyncClient) -> tuple[Account, dict[str, Any]]:
    officer = await new_agency(app, client)
    answer = await issue(client, officer, actions=MIXED)
    assert answer.status_code == 201, answer.text
    alert: dict[str, Any] = answer.json()
    return officer, alert


async def test_an_alert_names_library_actions_by_id_and_reads_back_their_text_and_link(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer, alert = await _issued(app, client)
    expected = [
        {"action_id": str(SHED.id), "text": SHED.text, "url": None},
        {"action_id": None, **FREE},
        {"action_id": str(ADVICE.id), "text": ADVICE.text, "url": ADVICE.url},
    ]
    assert alert["actions"] == expected
    read = await client.get(f"/v1/alerts/{alert['id']}", headers=officer.headers)
    assert read.json()["actions"] == expected
    cap = await client.get(
        f"/v1/alerts/{alert['id']}", headers={**officer.headers, "Accept": "application/cap+xml"}
    )
    info = ET.fromstring(cap.content).find(f"{CAP}info")
    assert info is not None
    instruction = info.findtext(f"{CAP}instruction") or ""
    assert instruction.splitlines() == [
        f"- {SHED.text}",
        "- Report sightings (https://www.police.uk/)",
        f"- {ADVICE.text} ({ADVICE.url})",
    ]


async def test_the_alert_keeps_what_the_library_said_when_it_was_issued(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer, alert = await _issued(app, client)
    admin = await new_admin(app, client)
    edited = await client.patch(
        f"/v1/prevention-actions/{SHED.id}", headers=admin.headers, json={"text": "Changed"}
    )
    assert edited.status_code == 200
    deleted = await client.delete(f"/v1/prevention-actions/{ADVICE.id}", headers=admin.headers)
    assert deleted.status_code == 204
    read = (await client.get(f"/v1/alerts/{alert['id']}", headers=officer.headers)).json()
    assert [a["text"] for a in read["actions"]] == [SHED.text, FREE["text"], ADVICE.text]
    # An update naming it afterwards gets today's text; a deleted one is refused.
    updated = await client.post(
        f"/v1/alerts/{alert['id']}/update",
        headers=officer.headers,
        json={"actions": [{"action_id": str(SHED.id)}]},
    )
    assert updated.status_code == 201, updated.text
    assert updated.json()["actions"] == [
        {"action_id": str(SHED.id), "text": "Changed", "url": None}
    ]
    gone = await client.post(
        f"/v1/alerts/{updated.json()['id']}/update",
        headers=officer.headers,
        json={"actions": [{"text": "Keep it"}, {"action_id": str(ADVICE.id)}]},
    )
    assert gone.status_code == 422
    assert [e["field"] for e in gone.json()["errors"]] == ["actions.1.action_id"]


async def test_unknown_or_ambiguous_actions_are_refused_naming_the_field(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    unknown = await issue(client, officer, actions=[FREE, {"action_id": str(uuid.uuid4())}])
    assert unknown.status_code == 422
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in unknown.json()["errors"]] == ["actions.1.action_id"]
    for bad in (
        [{"action_id": str(SHED.id), "text": "Both"}],
        [{"url": "https://example.org/"}],
        [{"action_id": "burglary.shed"}],
        [{"action_id": str(SHED.id), "extra": 1}],
    ):
        answer = await issue(client, officer, actions=bad)
        assert answer.status_code == 422, (bad, answer.text)
        assert all(e["field"].startswith("actions.0") for e in answer.json()["errors"]), bad
    mine = await client.get(
        "/v1/alerts", params={"scope": "issued", "active": "true"}, headers=officer.headers
    )
    assert mine.json()["items"] == []  # nothing was issued


async def _act(
    client: httpx.AsyncClient, who: Account, alert_id: str, actions: list[Any], kind: str = "acted"
) -> httpx.Response:
    return await client.post(
        f"/v1/alerts/{alert_id}/ack", headers=who.headers, json={"kind": kind, "actions": actions}
    )


async def test_residents_say_which_actions_they_took_by_id_or_position(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, alert = await _issued(app, client)
    resident = await new_account(client)
    first = await _act(client, resident, alert["id"], [{"action_id": str(SHED.id)}, {"index": 1}])
    assert first.status_code == 201, first.text
    assert first.json()["actions"] == [
        {"action_id": str(SHED.id), "text": SHED.text, "url": None},
        {"action_id": None, **FREE},
    ]
    # Acting again adds what they did since; naming one twice counts it once.
    again = await _act(client, resident, alert["id"], [{"index": 2}, {"index": 0}])
    assert again.status_code == 200, again.text
    assert [a["text"] for a in again.json()["actions"]] == [SHED.text, FREE["text"], ADVICE.text]
    cases: list[tuple[list[Any], str]] = [
        ([{"index": 3}], "actions.0.index"),
        ([{"index": 0}, {"action_id": str(BY_KEY["theft.mark"].id)}], "actions.1.action_id"),
        ([{"index": 0, "action_id": str(SHED.id)}], "actions.0"),
        ([{}], "actions.0"),
        ([{"index": -1}], "actions.0.index"),
    ]
    for bad, field in cases:
        answer = await _act(client, resident, alert["id"], bad)
        assert answer.status_code == 422, (bad, answer.text)
        assert [e["field"] for e in answer.json()["errors"]] == [field], answer.text
    seen = await _act(client, resident, alert["id"], [{"index": 0}], kind="seen")
    assert seen.status_code == 422
    assert [e["field"] for e in seen.json()["errors"]] == ["actions"]
    plain = await _act(client, resident, alert["id"], [], kind="seen")
    assert plain.status_code == 201
    assert plain.json()["actions"] == []


async def _stats(client: httpx.AsyncClient, officer: Account, alert_id: str) -> Any:
    answer = await client.get(f"/v1/alerts/{alert_id}/stats", headers=officer.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_the_issuer_sees_per_action_how_many_took_it_rounded(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer, alert = await _issued(app, client)
    residents = [await new_account(client) for _ in range(12)]
    for resident in residents:
        await watch(client, resident, LONDON)
    # Twelve locked their sheds, nine reported sightings, nobody read the advice.
    for i, resident in enumerate(residents):
        taken = [{"index": 0}] + ([{"index": 1}] if i < 9 else [])
        assert (await _act(client, resident, alert["id"], taken)).status_code == 201
    stats = await _stats(client, officer, alert["id"])
    assert stats["acks"]["acted"] == 12
    assert stats["actions"] == [
        {"index": 0, "action_id": str(SHED.id), "text": SHED.text, "acted": 12},
        {"index": 1, "action_id": None, "text": FREE["text"], "acted": "<10"},
        {"index": 2, "action_id": str(ADVICE.id), "text": ADVICE.text, "acted": "<10"},
    ]
    # One more report makes ten: now shown. An update reordering the actions keeps them.
    extra = await new_account(client)
    await _act(client, extra, alert["id"], [{"action_id": str(SHED.id)}, {"index": 1}])
    updated = await client.post(
        f"/v1/alerts/{alert['id']}/update",
        headers=officer.headers,
        json={"actions": [FREE, {"action_id": str(SHED.id)}]},
    )
    assert updated.status_code == 201, updated.text
    later = await _stats(client, officer, updated.json()["id"])
    assert [(a["index"], a["text"], a["acted"]) for a in later["actions"]] == [
        (0, FREE["text"], 10),
        (1, SHED.text, 13),  # rounded to two significant figures: 13 stays 13
    ]
    # Nobody but the issuer's side sees them.
    assert (
        await client.get(f"/v1/alerts/{alert['id']}/stats", headers=extra.headers)
    ).status_code == 403


async def test_the_export_names_the_actions_and_erasure_leaves_only_counts(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, alert = await _issued(app, client)
    erin = await new_account(client)
    assert (await _act(client, erin, alert["id"], [{"index": 0}, {"index": 1}])).status_code == 201
    export = await client.get("/v1/me/export", headers=erin.headers)
    assert export.status_code == 200, export.text
    [ack] = export.json()["acknowledgements"]
    assert ack["kind"] == "acted"
    assert ack["actions"] == [
        {"action_id": str(SHED.id), "text": SHED.text},
        {"action_id": None, "text": FREE["text"]},
    ]
    assert (await erase(client, erin)).status_code == 204
    async with app.state.sessionmaker() as session:
        acks = (await session.execute(select(Ack))).scalars().all()
        taken = (await session.execute(select(AckAction))).scalars().all()
    assert [(a.user_id, a.kind) for a in acks] == [(None, "acted")]
    assert sorted(t.text for t in taken) == sorted([SHED.text, FREE["text"]])
    assert {t.ack_id for t in taken} == {acks[0].id}
