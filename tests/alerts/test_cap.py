"""Every CAP document we produce validates against the OASIS CAP 1.2 schema; the feed is Atom."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
import xmlschema
from fastapi import FastAPI

from tests.alerts.factories import LONDON, circle, issue, new_agency, watch
from tests.auth.factories import new_account
from tests.groups.factories import join, new_group

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "shared" / "standards" / "cap12.xsd"
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def cap_schema() -> xmlschema.XMLSchema:
    if not SCHEMA_PATH.exists():
        message = f"the CAP 1.2 schema is not at {SCHEMA_PATH}"
        if os.environ.get("CI") == "true":  # CI always has ../shared
            pytest.fail(message, pytrace=False)
        pytest.skip(f"{message} (../shared sits beside the checkout in CI)")
    return xmlschema.XMLSchema(str(SCHEMA_PATH))


async def cap_of(
    client: httpx.AsyncClient, headers: dict[str, str], alert_id: str, schema: xmlschema.XMLSchema
) -> ET.Element:
    answer = await client.get(
        f"/v1/alerts/{alert_id}", headers={**headers, "Accept": "application/cap+xml"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/cap+xml")
    schema.validate(answer.text)  # raises with the reason if invalid
    return ET.fromstring(answer.content)


async def test_public_alert_chain_as_cap(
    app: FastAPI, client: httpx.AsyncClient, cap_schema: xmlschema.XMLSchema
) -> None:
    officer = await new_agency(app, client)
    first = (await issue(client, officer, area=circle(LONDON, 1_500))).json()
    doc = await cap_of(client, officer.headers, first["id"], cap_schema)
    assert doc.findtext(f"{CAP}identifier") == first["id"]
    assert doc.findtext(f"{CAP}status") == "Actual"
    assert doc.findtext(f"{CAP}msgType") == "Alert"
    assert doc.findtext(f"{CAP}scope") == "Public"
    info = doc.find(f"{CAP}info")
    assert info is not None
    assert info.findtext(f"{CAP}category") == "Security"
    assert info.findtext(f"{CAP}severity") == "Moderate"
    assert info.findtext(f"{CAP}headline") == first["title"]
    assert "Lock your shed" in (info.findtext(f"{CAP}instruction") or "")
    assert info.findtext(f"{CAP}senderName") == "PC Plod"
    # CAP circles are "lat,lon radius_km".
    assert info.findtext(f"{CAP}area/{CAP}circle") == "51.507200,-0.127600 1.500"

    second = (
        await client.post(
            f"/v1/alerts/{first['id']}/update", headers=officer.headers, json={"severity": "severe"}
        )
    ).json()
    doc = await cap_of(client, officer.headers, second["id"], cap_schema)
    assert doc.findtext(f"{CAP}msgType") == "Update"
    assert first["id"] in (doc.findtext(f"{CAP}references") or "")
    third = (
        await client.post(f"/v1/alerts/{second['id']}/cancel", headers=officer.headers, json={})
    ).json()
    doc = await cap_of(client, officer.headers, third["id"], cap_schema)
    assert doc.findtext(f"{CAP}msgType") == "Cancel"
    assert len((doc.findtext(f"{CAP}references") or "").split()) == 2
    # The public copy for aggregators needs no sign-in.
    public = await client.get(f"/v1/cap/alerts/{first['id']}")
    assert public.status_code == 200
    cap_schema.validate(public.text)


async def test_group_and_exercise_alerts_as_cap(
    app: FastAPI, client: httpx.AsyncClient, cap_schema: xmlschema.XMLSchema
) -> None:
    owner = await new_account(client)
    square = {
        "type": "Polygon",
        "coordinates": [
            [[-0.14, 51.50], [-0.11, 51.50], [-0.11, 51.52], [-0.14, 51.52], [-0.14, 51.50]]
        ],
    }
    group = await new_group(client, owner, name="Elm Street", area=square)
    alert = (await issue(client, owner, group_id=group["id"], area=None, status="exercise")).json()
    doc = await cap_of(client, owner.headers, alert["id"], cap_schema)
    assert doc.findtext(f"{CAP}scope") == "Restricted"
    assert "Elm Street" in (doc.findtext(f"{CAP}restriction") or "")
    assert doc.findtext(f"{CAP}status") == "Exercise"
    polygon = doc.findtext(f"{CAP}info/{CAP}area/{CAP}polygon") or ""
    pairs = polygon.split()
    assert pairs[0] == pairs[-1] == "51.500000,-0.140000"
    # Group alerts are not published for aggregators.
    assert (await client.get(f"/v1/cap/alerts/{alert['id']}")).status_code == 404


async def test_multipolygon_alert_as_cap(
    app: FastAPI, client: httpx.AsyncClient, cap_schema: xmlschema.XMLSchema
) -> None:
    officer = await new_agency(app, client)
    two = {
        "type": "MultiPolygon",
        "coordinates": [
            [[[-0.14, 51.50], [-0.13, 51.50], [-0.13, 51.51], [-0.14, 51.50]]],
            [[[-0.10, 51.50], [-0.09, 51.50], [-0.09, 51.51], [-0.10, 51.50]]],
        ],
    }
    alert = (await issue(client, officer, area=two)).json()
    doc = await cap_of(client, officer.headers, alert["id"], cap_schema)
    assert len(doc.findall(f"{CAP}info/{CAP}area/{CAP}polygon")) == 2


async def test_atom_feed_lists_active_actual_public_alerts(
    app: FastAPI, client: httpx.AsyncClient, cap_schema: xmlschema.XMLSchema
) -> None:
    officer = await new_agency(app, client)
    owner = await new_account(client)
    group = await new_group(client, owner)
    public = (await issue(client, officer)).json()
    await issue(client, officer, status="exercise")
    await issue(client, owner, group_id=group["id"], area=None)
    cancelled = (await issue(client, officer)).json()
    await client.post(f"/v1/alerts/{cancelled['id']}/cancel", headers=officer.headers, json={})
    answer = await client.get("/v1/cap/alerts.atom")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(answer.content)
    assert feed.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated"):
        assert feed.findtext(f"{ATOM}{required}")
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}id") for e in entries] == [f"urn:uuid:{public['id']}"]
    link = entries[0].find(f"{ATOM}link")
    assert link is not None
    assert link.get("type") == "application/cap+xml"
    href = link.get("href", "")
    cap = await client.get(href.replace("http://127.0.0.1:8000", ""))
    cap_schema.validate(cap.text)


async def test_a_member_reads_cap_of_a_group_alert(
    app: FastAPI, client: httpx.AsyncClient, cap_schema: xmlschema.XMLSchema
) -> None:
    owner, member = await new_account(client), await new_account(client)
    group = await new_group(client, owner, join_policy="open")
    await join(client, member, group["id"])
    await watch(client, member, LONDON)
    alert = (await issue(client, owner, group_id=group["id"], area=None)).json()
    await cap_of(client, member.headers, alert["id"], cap_schema)
