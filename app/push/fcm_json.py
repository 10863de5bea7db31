"""FCM HTTP v1 request bodies, byte for byte what firebase-admin sends, made cheaply.

firebase-admin turns each delivery into a `messaging.Message` (app.push.shaping),
encodes it (`_MessagingService.encode_message`) and httpx serialises `{"message": …}`
(compact separators, no ASCII escaping): ~40 µs a push. The deliveries of one event
differ only in the device token, the recipient's `seq` and `place_ids` (data) and, as
each goes out a moment later than the last, the TTL left until the alert expires. So
for each event message and silent flag we run the SDK's path once, with markers in
those places, cut its JSON at the markers, and per delivery join the pieces with that
delivery's values (~2 µs). tests/push/test_fcm_json.py holds the two paths together.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
import secrets
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from firebase_admin import messaging

from app.push.senders import PushMessage
from app.push.shaping import build_message

# httpx's encode_json, which firebase-admin's requests go through.
dumps = partial(json.dumps, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
# A str as that dumps writes it, quotes included.
quoted = json.encoder.encode_basestring


def sdk_body(m: PushMessage, now: datetime) -> bytes:
    """What firebase-admin sends for this delivery: the reference, and our slow path."""
    encoded = messaging._MessagingService.encode_message(build_message(m, now))
    return dumps({"message": encoded}).encode()


def encode_ttl(ttl: timedelta) -> str:
    """A protobuf Duration exactly as firebase-admin writes AndroidConfig.ttl
    (MessageEncoder.encode_ttl), float rounding and all."""
    total_seconds = ttl.total_seconds()
    seconds = math.floor(total_seconds)
    nanos = int((total_seconds - seconds) * 1e9)
    return f"{seconds}.{str(nanos).zfill(9)}s" if nanos else f"{seconds}s"


class _Slot(enum.Enum):
    token = "token"  # noqa: S105 (the device's registration token goes here)
    data = "data"  # the recipient's data entries, after the event's
    ttl = "ttl"  # android.ttl
    web_ttl = "web_ttl"  # webpush.headers.TTL


@dataclasses.dataclass(frozen=True, slots=True)
class _Template:
    pieces: tuple[str, ...]  # one more than slots: pieces[0] slot[0] pieces[1] …
    slots: tuple[_Slot, ...]
    expires: datetime | None

    def render(self, m: PushMessage, now: datetime) -> bytes:
        if not isinstance(m.token, str) or not m.token:
            raise ValueError("Message.token must be a non-empty string.")  # as the SDK's
        android_ttl = web_ttl = ""
        if self.expires is not None:  # build_message's TTL, taken as this one goes out
            ttl = max(timedelta(0), self.expires - now)
            android_ttl, web_ttl = quoted(encode_ttl(ttl)), quoted(str(int(ttl.total_seconds())))
        out = [self.pieces[0]]
        for slot, piece in zip(self.slots, self.pieces[1:], strict=True):
            if slot is _Slot.token:
                out.append(quoted(m.token))
            elif slot is _Slot.data:
                if m.seq is not None:
                    out.append(f',"seq":{quoted(str(m.seq))}')
                if m.place_ids:
                    out.append(f',"place_ids":{quoted(",".join(m.place_ids))}')
            elif slot is _Slot.ttl:
                out.append(android_ttl)
            else:
                out.append(web_ttl)
            out.append(piece)
        return "".join(out).encode()


class _Whole:
    """The SDK's path for every delivery: for event messages whose own data already
    holds `seq` or `place_ids` (build_message overwrites them where they stand), or
    whose text, against all odds, holds the random markers."""

    def render(self, m: PushMessage, now: datetime) -> bytes:
        return sdk_body(m, now)


def _template(m: PushMessage, now: datetime) -> _Template | _Whole:
    expires_at = m.content.get("expires_at")
    expires = datetime.fromisoformat(expires_at) if expires_at else None
    for _ in range(3):
        # Random markers, checked to occur once: event text cannot imitate them.
        mark = {slot: f"nw-{secrets.token_hex(8)}-{slot.value}" for slot in _Slot}
        common = dataclasses.replace(m, token=mark[_Slot.token], seq=None, place_ids=())
        encoded: dict[str, Any] = messaging._MessagingService.encode_message(
            build_message(common, now)
        )
        data = encoded["data"]  # never empty: it always says "silent"
        if "seq" in data or "place_ids" in data:
            return _Whole()
        data[mark[_Slot.data]] = ""
        cut = {
            quoted(mark[_Slot.token]): _Slot.token,
            f",{quoted(mark[_Slot.data])}:{quoted('')}": _Slot.data,
        }
        if expires is not None:
            encoded["android"]["ttl"] = mark[_Slot.ttl]
            encoded["webpush"]["headers"]["TTL"] = mark[_Slot.web_ttl]
            cut[quoted(mark[_Slot.ttl])] = _Slot.ttl
            cut[quoted(mark[_Slot.web_ttl])] = _Slot.web_ttl
        text = dumps({"message": encoded})
        if all(text.count(marker) == 1 for marker in cut):
            parts = re.split("(" + "|".join(map(re.escape, cut)) + ")", text)
            slots = tuple(cut[marker] for marker in parts[1::2])
            return _Template(tuple(parts[0::2]), slots, expires)
    return _Whole()


class Bodies:
    """The request bodies of one batch, a template per event message and silent flag.

    Keyed on the message dict's identity, which the dispatcher shares between an
    event's deliveries: live for one batch only, while its messages keep those dicts
    (and so their ids) alive.
    """

    def __init__(self) -> None:
        self._templates: dict[tuple[int, bool], _Template | _Whole] = {}

    def body(self, m: PushMessage, now: datetime) -> bytes:
        """Raises ValueError or TypeError for a message the SDK would refuse to build."""
        key = (id(m.content), m.silent)
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = _template(m, now)
        return template.render(m, now)
