"""The prevention library: actions for every category, stable ids, served to members."""

from __future__ import annotations

import httpx

from app.categories import Category
from app.evidence.prevention import BUILT_IN, BY_ID
from tests.auth.factories import new_account


def test_every_category_has_actions_and_every_id_is_unique_and_stable() -> None:
    assert {a.category for a in BUILT_IN} == set(Category)
    assert len(BY_ID) == len(BUILT_IN)
    assert all(a.id.startswith(f"{a.category.value}.") for a in BUILT_IN)
    assert BY_ID["burglary.shed"].category is Category.burglary


async def test_the_library_is_listed_by_category(client: httpx.AsyncClient) -> None:
    ann = await new_account(client)
    assert (await client.get("/v1/prevention-actions")).status_code == 401
    everything = await client.get("/v1/prevention-actions", headers=ann.headers)
    assert everything.status_code == 200, everything.text
    assert len(everything.json()) == len(BUILT_IN)
    fraud = await client.get(
        "/v1/prevention-actions", params={"category": "fraud_scam"}, headers=ann.headers
    )
    assert {a["category"] for a in fraud.json()} == {"fraud_scam"}
    assert any(a["url"] == "https://www.actionfraud.police.uk/" for a in fraud.json())
    bad = await client.get(
        "/v1/prevention-actions", params={"category": "arson"}, headers=ann.headers
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
