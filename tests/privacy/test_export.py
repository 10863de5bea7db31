"""GET /v1/me/export and GET /v1/admin/users/{id}/export."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import httpx
from fastapi import FastAPI

from app.privacy.schemas import Export
from tests.auth.factories import new_account, new_admin
from tests.conftest import AppFactory
from tests.privacy.factories import HOME, LABEL, NAME, SEEN, TOKEN, busy_resident


async def test_the_export_holds_every_kind_of_record_and_nobody_elses(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    busy = await busy_resident(app, client)
    answer = await client.get("/v1/me/export", headers=busy.erin.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-disposition"].startswith("attachment; filename=")
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    Export.model_validate(body)  # the schema the OpenAPI document publishes
    assert body["account"]["email"] == busy.erin.email
    assert body["account"]["display_name"] == NAME
    assert "password_hash" not in json.dumps(body)
    assert busy.erin.refresh_token not in answer.text
    assert busy.erin.access_token not in answer.text
    assert [d["fcm_token"] for d in body["devices"]] == [TOKEN]
    assert [(p["label"], p["location"]["coordinates"]) for p in body["places"]] == [
        (LABEL, list(HOME))
    ]
    assert body["preferences"]["muted_categories"] == ["vehicle_crime"]
    assert {(m["group_name"], m["role"]) for m in body["memberships"]} == {
        ("Erin's close", "owner"),
        ("Bakery Row Watch", "member"),
    }
    assert [i["group_id"] for i in body["invitations"]] == [busy.own_group["id"]]
    assert [r["group_id"] for r in body["verification_requests"]] == [busy.own_group["id"]]
    [report] = body["reports"]
    assert report["id"] == busy.report["id"]
    assert report["location"]["coordinates"] == list(SEEN)  # exact: it is hers
    assert report["location_shown"]["coordinates"] != list(SEEN)
    assert len(body["updates"]) == 2
    assert [p["id"] for p in body["photos"]] == [busy.photo["id"]]
    assert [a["alert_id"] for a in body["acknowledgements"]] == [busy.officer_alert["id"]]
    assert [a["id"] for a in body["alerts_issued"]] == [busy.erin_alert["id"]]
    pushed = {p["subject_id"] for p in body["deliveries"]["push"]}
    assert busy.officer_alert["id"] in pushed
    assert body["deliveries"]["realtime"], "her realtime events"
    receipts = {r["alert_id"]: r for r in body["deliveries"]["alerts"]}
    assert receipts[busy.officer_alert["id"]]["place_ids"] == [busy.place["id"]]
    assert len(body["sessions"]) == 1
    assert set(body["sessions"][0]) == {
        "id",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    }
    # Nothing of anyone else: not the neighbour's report, name, nor who moderated.
    assert "Neil Bour" not in answer.text
    assert str(busy.neighbour.id) not in answer.text
    assert busy.officer.email not in answer.text


async def test_the_zip_holds_the_document_and_the_photos(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    busy = await busy_resident(app, client)
    answer = await client.get(
        "/v1/me/export", headers={**busy.erin.headers, "Accept": "application/zip"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    document: dict[str, Any] = json.loads(archive.read("export.json"))
    [photo] = document["photos"]
    stored = await client.get(photo["url"], headers=busy.erin.headers)
    assert archive.read(photo["file"]) == stored.content
    assert sorted(archive.namelist()) == sorted(["export.json", photo["file"]])


async def test_an_admin_exports_another_account_and_nobody_else_may(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await new_admin(app, client)
    ann, bob = await new_account(client), await new_account(client)
    path = f"/v1/admin/users/{ann.id}/export"
    assert (await client.get(path, headers=bob.headers)).status_code == 403
    assert (await client.get(path, headers=ann.headers)).status_code == 403
    answer = await client.get(path, headers=admin.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["account"]["email"] == ann.email
    missing = f"/v1/admin/users/{admin.id.hex[:8]}-0000-4000-8000-000000000000/export"
    assert (await client.get(missing, headers=admin.headers)).status_code == 404


async def test_exports_are_rate_limited(app_factory: AppFactory) -> None:
    async with app_factory(exports_per_user_per_day=2) as (_app, client):
        ann = await new_account(client)
        codes = [
            (await client.get("/v1/me/export", headers=ann.headers)).status_code for _ in "abc"
        ]
        assert codes == [200, 200, 429]
