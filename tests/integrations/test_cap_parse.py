"""Reading CAP 1.2: our own documents read back as the alerts they came from; unsafe and
invalid XML refused before anything reads it; areas mapped as CAP defines them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.alerts.schemas import AlertCreate
from app.integrations.cap_in.parse import (
    Area,
    CapAlert,
    Circle,
    Info,
    Invalid,
    Unsupported,
    alert_fields,
    area_geojson,
    parse,
)
from tests.alerts.factories import LONDON, circle, issue, new_agency

CAP = "application/cap+xml"
RING = [[-0.13, 51.50], [-0.12, 51.50], [-0.12, 51.51], [-0.13, 51.51], [-0.13, 51.50]]
SQUARE: dict[str, Any] = {"type": "Polygon", "coordinates": [RING]}
TWO_SQUARES = {
    "type": "MultiPolygon",
    "coordinates": [
        SQUARE["coordinates"],
        [[[-0.11, 51.50], [-0.10, 51.50], [-0.10, 51.51], [-0.11, 51.51], [-0.11, 51.50]]],
    ],
}


def close(a: Any, b: Any) -> bool:
    """Equal, numbers to the 6 decimals CAP documents carry."""
    if isinstance(a, float | int) and isinstance(b, float | int):
        return abs(a - b) < 2e-6
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    return bool(a == b)


async def cap_of(client: httpx.AsyncClient, headers: dict[str, str], alert_id: str) -> bytes:
    answer = await client.get(f"/v1/alerts/{alert_id}", headers={**headers, "Accept": CAP})
    assert answer.status_code == 200, answer.text
    return answer.content


@pytest.mark.parametrize(
    "fields",
    [
        {"area": circle(LONDON, 1_500)},
        {"area": SQUARE, "severity": "extreme", "urgency": "immediate", "certainty": "observed"},
        {"area": TWO_SQUARES, "category": "fraud_scam", "actions": []},
        {"status": "exercise", "category": "vehicle_crime"},
    ],
)
async def test_our_cap_documents_read_back_as_the_alerts_they_came_from(
    app: FastAPI, client: httpx.AsyncClient, fields: dict[str, Any]
) -> None:
    officer = await new_agency(app, client)
    made = await issue(client, officer, **fields)
    assert made.status_code == 201, made.text
    alert = made.json()
    cap = parse(await cap_of(client, officer.headers, alert["id"]))
    assert (cap.identifier, cap.msg_type, cap.scope) == (alert["id"], "Alert", "Public")
    got = alert_fields(cap, datetime.now(UTC))
    AlertCreate.model_validate(got)  # acceptable to our own alert intake
    for key in ("title", "body", "category", "severity", "urgency", "certainty", "status"):
        assert got[key] == alert[key], key
    assert close(got["area"], alert["area"])
    expected_expiry = datetime.fromisoformat(alert["expires_at"]).replace(microsecond=0)
    assert got["expires_at"] == expected_expiry
    assert got["actions"] == [
        {k: v for k, v in a.items() if v is not None} for a in alert["actions"]
    ]


async def test_an_update_and_a_cancel_name_what_they_replace(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    officer = await new_agency(app, client)
    first = (await issue(client, officer)).json()
    update = await client.post(
        f"/v1/alerts/{first['id']}/update", headers=officer.headers, json={"title": "Now two vans"}
    )
    assert update.status_code == 201, update.text
    cancel = await client.post(f"/v1/alerts/{update.json()['id']}/cancel", headers=officer.headers)
    assert cancel.status_code == 201, cancel.text
    updated = parse(await cap_of(client, officer.headers, update.json()["id"]))
    assert updated.msg_type == "Update"
    assert [r.identifier for r in updated.references] == [first["id"]]
    assert alert_fields(updated, datetime.now(UTC))["title"] == "Now two vans"
    cancelled = parse(await cap_of(client, officer.headers, cancel.json()["id"]))
    assert cancelled.msg_type == "Cancel"
    assert [r.identifier for r in cancelled.references] == [first["id"], update.json()["id"]]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol9;</identifier></alert>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&secret;</identifier></alert>"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe"])
def test_entity_attacks_are_refused_before_anything_is_read(document: bytes) -> None:
    with pytest.raises(Invalid, match="refused"):
        parse(document)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b"<alert", "not well-formed"),
        (b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>', "not valid CAP 1.2"),
        (b"<rss><channel/></rss>", "not valid CAP 1.2"),
        (b"<a>" + b"x" * 1_000_001 + b"</a>", "larger than"),
    ],
)
def test_malformed_or_invalid_documents_are_refused_with_the_reason(
    document: bytes, reason: str
) -> None:
    with pytest.raises(Invalid, match=reason):
        parse(document)


def test_several_areas_make_a_multipolygon_and_geocodes_alone_are_unsupported() -> None:
    circle_area = Area("Town centre", circles=[Circle(LONDON[0], LONDON[1], 2_000)])
    square_area = Area("Estate", polygons=[RING])
    both = area_geojson([circle_area, square_area])
    assert both["type"] == "MultiPolygon"
    assert len(both["coordinates"]) == 2
    ring = both["coordinates"][1][0]  # the circle, as a polygon
    assert ring[0] == ring[-1]
    assert area_geojson([circle_area]) == {
        "type": "Point",
        "coordinates": list(LONDON),
        "radius_m": 2_000,
    }
    with pytest.raises(Unsupported, match="geocode"):
        area_geojson([Area("District 9")])


def test_expiry_severity_and_category_are_mapped_as_documented() -> None:
    sent = datetime.now(UTC).replace(microsecond=0)
    area = [Area("Town centre", circles=[Circle(LONDON[0], LONDON[1], 2_000)])]

    def info(expires: datetime | None, event: str = "Burglary") -> Info:
        return Info("en-GB", event, "Expected", "Unknown", "Very Likely", expires, None, None,
                    None, None, area)  # fmt: skip

    def fields(i: Info) -> dict[str, Any]:
        return alert_fields(CapAlert("x", "p@example.org", sent, "Actual", "Alert", "Public",
                                     [], i), sent)  # fmt: skip

    plain = fields(info(None))
    assert plain["expires_at"] == sent + timedelta(hours=24)  # no `expires`: a day
    assert (plain["severity"], plain["certainty"], plain["category"]) == (
        "minor",  # Unknown: the lowest, so it passes no resident's minimum
        "likely",  # CAP 1.1's "Very Likely"
        "burglary",  # the event is our category's label
    )
    assert plain["title"] == "Burglary"
    assert fields(info(sent + timedelta(days=30)))["expires_at"] == sent + timedelta(days=7)
    assert fields(info(None, event="Flood"))["category"] == "other"
    with pytest.raises(Unsupported, match="no info"):
        alert_fields(CapAlert("x", "p", sent, "Actual", "Alert", "Public", [], None), sent)
