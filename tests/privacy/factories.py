"""A busy resident: one of every kind of record the service can hold about a person."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from app.push.dispatcher import Dispatcher
from tests.alerts.factories import LONDON, issue, new_agency
from tests.auth.factories import Account, new_account
from tests.groups.factories import invite, join, new_group
from tests.incidents.factories import report
from tests.incidents.test_photos import jpeg_with_gps, upload
from tests.push.factories import RecordingSender, device, drain

# Where Erin lives, and what she saw: points no other record of the tests uses.
HOME = (-0.12811, 51.50733)
SEEN = (-0.12652, 51.50791)
NAME = "Erin Quuxley"
LABEL = "Erin's flat above the bakery"
TOKEN = "erin-phone-" + "q" * 40
# The officer's alert: all of central London, Erin's home included.
CITY = {"type": "Point", "coordinates": list(LONDON), "radius_m": 2_000}


@dataclass
class Busy:
    erin: Account
    neighbour: Account
    officer: Account
    own_group: dict[str, Any]
    other_group: dict[str, Any]
    report: dict[str, Any]
    photo: dict[str, Any]
    officer_alert: dict[str, Any]
    erin_alert: dict[str, Any]
    place: dict[str, Any]
    sender: RecordingSender = field(default_factory=RecordingSender)


async def busy_resident(app: FastAPI, client: httpx.AsyncClient) -> Busy:
    officer = await new_agency(app, client)
    erin = await new_account(client, display_name=NAME)
    neighbour = await new_account(client, display_name="Neil Bour")
    await device(client, erin, TOKEN)
    place = (
        await client.post(
            "/v1/me/places",
            headers=erin.headers,
            json={
                "label": LABEL,
                "location": {"type": "Point", "coordinates": list(HOME)},
                "radius_m": 300,
            },
        )
    ).json()
    preferences = await client.put(
        "/v1/me/preferences", headers=erin.headers, json={"muted_categories": ["vehicle_crime"]}
    )
    assert preferences.status_code == 200, preferences.text
    # A group Erin alone is in (archived by her erasure), another she is a member of.
    own_group = await new_group(client, erin, name="Erin's close")
    await invite(client, erin, own_group["id"])
    requested = await client.post(
        f"/v1/groups/{own_group['id']}/verification-requests",
        headers=erin.headers,
        json={"message": f"Run by {NAME}"},
    )
    assert requested.status_code == 201, requested.text
    other_group = await new_group(client, neighbour, name="Bakery Row Watch")
    assert (await join(client, erin, other_group["id"])).status_code in (200, 201)
    mine = await report(
        client, erin, anonymous=False, location={"type": "Point", "coordinates": list(SEEN)}
    )
    assert mine.status_code == 201, mine.text
    photo = (await upload(client, erin.headers, mine.json()["id"], jpeg_with_gps())).json()
    theirs = (await report(client, neighbour)).json()
    for incident_id in (mine.json()["id"], theirs["id"]):
        added = await client.post(
            f"/v1/incidents/{incident_id}/updates",
            headers=erin.headers,
            json={"text": "A white van, twice this week"},
        )
        assert added.status_code == 201, added.text
    officer_alert = (await issue(client, officer, area=CITY)).json()
    erin_alert = await issue(client, erin, group_id=own_group["id"], area=None)
    assert erin_alert.status_code == 201, erin_alert.text
    busy = Busy(
        erin,
        neighbour,
        officer,
        own_group,
        other_group,
        mine.json(),
        photo,
        officer_alert,
        erin_alert.json(),
        place,
    )
    await drain(Dispatcher(app.state.sessionmaker, busy.sender))  # pushes and the event log
    acked = await client.post(
        f"/v1/alerts/{officer_alert['id']}/ack", headers=erin.headers, json={"kind": "seen"}
    )
    assert acked.status_code in (200, 201), acked.text
    return busy
