"""The prevention library: ours for every category with ids fixed everywhere, served to
members; admins and agency officers extend it, residents cannot, nor agency touch ours."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from app.categories import Category
from app.evidence.prevention import BUILT_IN, BY_KEY, NAMESPACE
from tests.alerts.factories import new_agency
from tests.auth.factories import new_account, new_admin

MIGRATION = Path(__file__).parents[2] / "migrations" / "versions" / "0022_prevention_actions.py"


def _seeded() -> Any:
    spec = importlib.util.spec_from_file_location("seed_0022", MIGRATION)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_category_has_actions_and_every_id_is_unique_and_stable() -> None:
    assert {a.category for a in BUILT_IN} == set(Category)
    assert len(BY_KEY) == len({a.id for a in BUILT_IN}) == len(BUILT_IN)
    assert all(a.key.startswith(f"{a.category.value}.") for a in BUILT_IN)
    # Derived from the key alone: the same id in every database, for ever.
    shed = BY_KEY["burglary.shed"]
    assert shed.id == uuid.UUID("dc9faf78-5f47-5b73-82b7-7716a121cbe8")
    assert shed.id == uuid.uuid5(NAMESPACE, "burglary.shed")


def test_the_migration_seeds_what_the_code_says() -> None:
    """A change to the built-in list needs a migration of its own: this fails until then."""
    seed = _seeded()
    assert seed.NAMESPACE == NAMESPACE
    assert [(a.key, a.text, a.url) for a in BUILT_IN] == seed.BUILT_IN


async def test_the_library_is_listed_by_category(client: httpx.AsyncClient) -> None:
    ann = await new_account(client)
    assert (await client.get("/v1/prevention-actions")).status_code == 401
    everything = await client.get("/v1/prevention-actions", headers=ann.headers)
    assert everything.status_code == 200, everything.text
    listed = everything.json()
    assert [(a["id"], a["key"], a["text"], a["url"]) for a in listed] == sorted(
        ((str(a.id), a.key, a.text, a.url) for a in BUILT_IN),
        # By category, then in the library's order.
        key=lambda row: (row[1].split(".")[0], [b.key for b in BUILT_IN].index(row[1])),
    )
    assert all(a["built_in"] for a in listed)
    for category in Category:
        answer = await client.get(
            "/v1/prevention-actions", params={"category": category.value}, headers=ann.headers
        )
        assert [a["key"] for a in answer.json()] == [
            a.key for a in BUILT_IN if a.category == category
        ], category
    fraud = await client.get(
        "/v1/prevention-actions", params={"category": "fraud_scam"}, headers=ann.headers
    )
    assert any(a["url"] == "https://www.actionfraud.police.uk/" for a in fraud.json())
    bad = await client.get(
        "/v1/prevention-actions", params={"category": "arson"}, headers=ann.headers
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")


NEW = {"category": "burglary", "text": "Fit a door chain", "url": "https://example.org/chain"}


async def test_admins_and_agency_officers_add_actions_and_residents_cannot(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    resident, officer = await new_account(client), await new_agency(app, client)
    refused = await client.post("/v1/prevention-actions", headers=resident.headers, json=NEW)
    assert refused.status_code == 403, refused.text
    added = await client.post("/v1/prevention-actions", headers=officer.headers, json=NEW)
    assert added.status_code == 201, added.text
    action = added.json()
    assert (action["category"], action["text"], action["url"]) == (
        "burglary",
        "Fit a door chain",
        "https://example.org/chain",
    )
    assert action["built_in"] is False
    assert action["key"] is None
    listed = await client.get(
        "/v1/prevention-actions", params={"category": "burglary"}, headers=resident.headers
    )
    # After ours, in the order they were added.
    assert [a["id"] for a in listed.json()][-1] == action["id"]
    assert len(listed.json()) == 1 + sum(a.category == Category.burglary for a in BUILT_IN)
    again = await client.post(
        "/v1/prevention-actions", headers=officer.headers, json={**NEW, "text": "fit a DOOR chain"}
    )
    assert again.status_code == 409
    assert again.json()["type"].endswith("duplicate-action")
    admin = await new_admin(app, client)
    by_admin = await client.post(
        "/v1/prevention-actions",
        headers=admin.headers,
        json={"category": "theft", "text": "Photograph your bike's frame number"},
    )
    assert by_admin.status_code == 201
    assert by_admin.json()["url"] is None


async def test_text_and_links_are_checked(app: FastAPI, client: httpx.AsyncClient) -> None:
    officer = await new_agency(app, client)
    for body, field in [
        ({**NEW, "url": "http://example.org/chain"}, "url"),
        ({**NEW, "url": "javascript:alert(1)"}, "url"),
        ({**NEW, "text": "Fit a \u202echain"}, "text"),
        ({**NEW, "text": "two\nlines"}, "text"),
        ({**NEW, "text": "x" * 201}, "text"),
        ({**NEW, "category": "arson"}, "category"),
        ({**NEW, "built_in": True}, "built_in"),
    ]:
        answer = await client.post("/v1/prevention-actions", headers=officer.headers, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert [e["field"] for e in answer.json()["errors"]] == [field], answer.text


async def test_who_may_change_and_delete_what(app: FastAPI, client: httpx.AsyncClient) -> None:
    officer = await new_agency(app, client)
    other = await new_agency(app, client)
    resident = await new_account(client)
    admin = await new_admin(app, client)
    mine = (await client.post("/v1/prevention-actions", headers=officer.headers, json=NEW)).json()
    path = f"/v1/prevention-actions/{mine['id']}"
    built_in = f"/v1/prevention-actions/{BY_KEY['burglary.shed'].id}"

    changed = await client.patch(path, headers=officer.headers, json={"url": None})
    assert changed.status_code == 200, changed.text
    assert changed.json()["url"] is None
    assert changed.json()["text"] == NEW["text"]
    assert (await client.patch(path, headers=officer.headers, json={})).status_code == 422
    renamed = await client.patch(path, headers=officer.headers, json={"text": "Fit a chain"})
    assert renamed.json()["text"] == "Fit a chain"
    assert (
        await client.patch(path, headers=officer.headers, json={"text": None})
    ).status_code == 422

    for who in (other, resident):
        assert (
            await client.patch(path, headers=who.headers, json={"text": "x"})
        ).status_code == 403
        assert (await client.delete(path, headers=who.headers)).status_code == 403
    # Ours: not an agency officer's to change or delete.
    assert (await client.delete(built_in, headers=officer.headers)).status_code == 403
    assert (
        await client.patch(built_in, headers=officer.headers, json={"text": "Nothing"})
    ).status_code == 403

    assert (await client.delete(path, headers=officer.headers)).status_code == 204
    assert (await client.delete(path, headers=officer.headers)).status_code == 404
    unknown = await client.patch(
        f"/v1/prevention-actions/{uuid.uuid4()}", headers=admin.headers, json={"text": "x"}
    )
    assert unknown.status_code == 404

    # An admin changes and removes even ours.
    edited = await client.patch(built_in, headers=admin.headers, json={"text": "Lock your shed"})
    assert edited.status_code == 200
    assert edited.json()["built_in"] is True
    assert (await client.delete(built_in, headers=admin.headers)).status_code == 204
    listed = await client.get("/v1/prevention-actions", headers=resident.headers)
    assert str(BY_KEY["burglary.shed"].id) not in {a["id"] for a in listed.json()}


async def test_a_category_holds_a_bounded_number_of_added_actions(app_factory: Any) -> None:
    async with app_factory(max_prevention_actions_per_category=2) as (app, client):
        officer = await new_agency(app, client)
        for text in ("One", "Two"):
            body = {"category": "drugs", "text": text}
            answer = await client.post("/v1/prevention-actions", headers=officer.headers, json=body)
            assert answer.status_code == 201, answer.text
        full = await client.post(
            "/v1/prevention-actions",
            headers=officer.headers,
            json={"category": "drugs", "text": "Three"},
        )
        assert full.status_code == 409
        assert full.json()["type"].endswith("library-full")
        elsewhere = await client.post(
            "/v1/prevention-actions",
            headers=officer.headers,
            json={"category": "theft", "text": "Three"},
        )
        assert elsewhere.status_code == 201


async def test_changes_to_the_library_are_rate_limited(app_factory: Any) -> None:
    async with app_factory(prevention_edits_per_user_per_day=2) as (app, client):
        officer = await new_agency(app, client)
        for text in ("One", "Two"):
            body = {"category": "drugs", "text": text}
            answer = await client.post("/v1/prevention-actions", headers=officer.headers, json=body)
            assert answer.status_code == 201, answer.text
        limited = await client.post(
            "/v1/prevention-actions",
            headers=officer.headers,
            json={"category": "drugs", "text": "Three"},
        )
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
