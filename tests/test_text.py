"""Text shown to others: names refuse control and bidi characters, long texts keep their
newlines and tabs, and both are NFC-normalised."""

from __future__ import annotations

import httpx
import pytest

from tests.alerts.factories import alert_body
from tests.auth.factories import PASSWORD, new_account
from tests.groups.factories import LONDON, new_group
from tests.incidents.factories import report

# "\u202eecilop" shows as "police"; the others are NUL, ESC, a C1 control (NEL), DEL,
# an isolate, a mark and a line separator.
BAD_NAMES = [
    "\u202eecilop",
    "Ann\x00",
    "\x1b[31mAnn",
    "An\x85n",
    "Ann\x7f",
    "A\u2066nn\u2069",
    "Ann\u200f",
    "Ann\u061c",
    "An\nn",
]
BAD_TEXTS = ["Shed\x00door", "Shed \u202edoor", "Shed\x1b[2Jdoor", "Shed\x9bdoor"]


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_names_refuse_control_and_bidi_characters(
    client: httpx.AsyncClient, name: str
) -> None:
    ann = await new_account(client)
    attempts = [
        (
            "display_name",
            await client.post(
                "/v1/auth/register",
                json={"email": "x@example.org", "password": PASSWORD, "display_name": name},
            ),
        ),
        (
            "display_name",
            await client.patch("/v1/me", headers=ann.headers, json={"display_name": name}),
        ),
        (
            "name",
            await client.post(
                "/v1/groups", headers=ann.headers, json={"name": name, "area": LONDON}
            ),
        ),
        (
            "label",
            await client.post(
                "/v1/me/places",
                headers=ann.headers,
                json={
                    "label": name,
                    "location": {"type": "Point", "coordinates": [0, 51]},
                    "radius_m": 500,
                },
            ),
        ),
        (
            "title",
            await client.post("/v1/alerts", headers=ann.headers, json=alert_body(title=name)),
        ),
    ]
    for field, answer in attempts:
        assert answer.status_code == 422, (field, answer.text)
        assert answer.json()["errors"][0]["field"] == field, answer.text


async def test_names_are_nfc_normalised(client: httpx.AsyncClient) -> None:
    ann = await new_account(client, display_name="Cafe\u0301 Owner")
    me = (await client.get("/v1/me", headers=ann.headers)).json()
    assert me["display_name"] == "Caf\u00e9 Owner"
    group = await new_group(client, ann, name="Rue de l'E\u0301glise")
    assert group["name"] == "Rue de l'\u00c9glise"


async def test_long_texts_keep_newlines_and_tabs_and_are_nfc_normalised(
    client: httpx.AsyncClient,
) -> None:
    ann = await new_account(client)
    text = "Shed door forced.\nBike taken:\tred, with a basket.\r\nCafe\u0301 too."
    answer = await report(client, ann, description=text)
    assert answer.status_code == 202 or answer.status_code == 201, answer.text
    assert answer.json()["description"] == text.replace("e\u0301", "\u00e9")


@pytest.mark.parametrize("text", BAD_TEXTS)
async def test_long_texts_refuse_other_controls_and_bidi_overrides(
    client: httpx.AsyncClient, text: str
) -> None:
    ann = await new_account(client)
    answer = await report(client, ann, description=text)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "description"
    group = await client.post(
        "/v1/groups", headers=ann.headers, json={"name": "Elm", "area": LONDON, "description": text}
    )
    assert group.status_code == 422, group.text
    assert group.json()["errors"][0]["field"] == "description"
