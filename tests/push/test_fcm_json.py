"""Our request bodies (app.push.fcm_json) are firebase-admin's, byte for byte.

The reference is the SDK's own path: build_message, `_MessagingService.encode_message`,
and httpx serialising `{"message": …}` as it does for `json=` (httpx.Request).
"""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from firebase_admin import messaging

from app.push.fcm_json import Bodies, encode_ttl
from app.push.senders import PushMessage
from app.push.shaping import build_message

NOW = datetime(2026, 3, 1, 12, 0, 0, 123_457, tzinfo=UTC)
LATER = NOW + timedelta(seconds=2, microseconds=345_678)

SEVERITIES: list[str | None] = ["minor", "moderate", "severe", "extreme"]
TITLES = [
    "Shed break-ins on Elm Street",
    "",
    'Überfall \u2013 «Achtung» 🚨 警告 تحذير "quoted" back\\slash tab\t new\nline \u2028 \x00',
    "[EXERCISE] Cancelled: " + "a very long title " * 40,
]
BODIES = ["Three sheds were forced open last night.", "", "ß" * 1000, "😀" * 300]
EXPIRIES = [
    None,
    (NOW + timedelta(hours=24)).isoformat(),  # 86400 s less a few µs after NOW: fractional
    (NOW + timedelta(seconds=3, microseconds=500_000)).isoformat(),
    (NOW + timedelta(days=7)).replace(microsecond=0).isoformat(),
    (NOW - timedelta(minutes=1)).isoformat(),  # already over: TTL 0
    "2026-03-01T14:00:00+02:00",  # another offset
]


def reference(m: PushMessage, now: datetime) -> bytes:
    message = messaging._MessagingService.encode_message(build_message(m, now))
    return httpx.Request("POST", "https://fcm.invalid/", json={"message": message}).content


def contents() -> list[dict[str, Any]]:
    """Alerts of every severity, title, body, collapse key and expiry, and non-alerts."""
    made: list[dict[str, Any]] = []
    shapes = itertools.product(SEVERITIES, TITLES, BODIES, [None, "chain-1"], EXPIRIES)
    for n, (severity, title, body, collapse, expires) in enumerate(shapes):
        content: dict[str, Any] = {
            "title": title,
            "body": body,
            "severity": severity,
            "data": {
                "alert_id": str(uuid.UUID(int=n)),
                "severity": severity,
                "category": "Burglary",
                "type": "alert.issued",
                "n": n,  # not a str: build_message turns data values into strings
            },
        }
        if collapse:
            content["collapse_key"] = f"{collapse}-{n}"
        if expires:
            content["expires_at"] = expires
        made.append(content)
    # Not alerts: no severity at all, or an explicit None, and no data beyond the type.
    made.append({"title": "Your join request was approved", "body": "", "data": {"type": "x"}})
    made.append({"title": "A report near you", "body": "b", "severity": None, "data": {}})
    made.append({"title": "Bare"})
    # Its own data already says seq and place_ids: the SDK overwrites them in place.
    made.append({"title": "t", "data": {"seq": "old", "place_ids": "old", "silent": "x"}})
    return made


def deliveries(content: dict[str, Any], n: int) -> list[PushMessage]:
    recipients: list[tuple[str, int | None, tuple[str, ...]]] = [
        (f"fcm-token-{n}:APA91b" + "x" * 140, 1, ()),
        (f"ios-{n}", None, (str(uuid.UUID(int=n)),)),
        ('tøken "with" odd\\chars ✓', 10**12, ("a", "b", "c")),
        (f"web-{n}", 0, tuple(str(uuid.UUID(int=k)) for k in range(20))),
    ]
    return [
        PushMessage(uuid.uuid4(), token, platform, silent, content, seq, places)
        for (token, seq, places), platform, silent in itertools.product(
            recipients, ("android", "ios", "web"), (False, True)
        )
    ]


def test_bodies_are_the_sdks_byte_for_byte() -> None:
    bodies = Bodies()  # one for all: deliveries of an event share its template
    checked = 0
    for n, content in enumerate(contents()):
        for m in deliveries(content, n):
            for now in (NOW, LATER):  # the TTL is each send's own, not the template's
                ours, sdk = bodies.body(m, now), reference(m, now)
                assert json.loads(ours) == json.loads(sdk), (content, m)
                assert ours == sdk
                checked += 1
    assert checked > 10_000


def test_a_message_the_sdk_refuses_is_refused() -> None:
    bodies = Bodies()
    naive = {"title": "t", "expires_at": "2026-03-01T12:00:00"}  # no offset
    with pytest.raises(TypeError):
        bodies.body(PushMessage(uuid.uuid4(), "tok", "android", False, naive), NOW)
    with pytest.raises(ValueError, match="non-empty"):
        bodies.body(PushMessage(uuid.uuid4(), "", "android", False, {"title": "t"}), NOW)
    with pytest.raises(ValueError, match="non-empty"):
        reference(PushMessage(uuid.uuid4(), "", "android", False, {"title": "t"}), NOW)


@pytest.mark.parametrize(
    ("ttl", "expected"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=86399), "86399s"),
        (timedelta(seconds=3, microseconds=500_000), "3.500000000s"),
        (timedelta(seconds=97_315_113, microseconds=135_839), "97315113.135839000s"),
    ],
)
def test_ttl_is_written_as_the_sdk_writes_it(ttl: timedelta, expected: str) -> None:
    assert (
        encode_ttl(ttl)
        == expected
        == messaging._MessagingService.encode_message(
            messaging.Message(topic="t", android=messaging.AndroidConfig(ttl=ttl))
        )["android"]["ttl"]
    )
