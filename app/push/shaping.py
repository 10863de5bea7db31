"""What a phone receives: one FCM message per delivery, shaped per platform.

Alerts go out at high priority, collapse per alert chain (an update replaces the
earlier notification on the phone) and live until the alert expires. `severe` and
`extreme` use their own Android channels and iOS's `time-sensitive` interruption level;
a delivery made silent by the resident's quiet hours plays no sound and is `passive`.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta

from firebase_admin import messaging

from app.push.senders import PushMessage

URGENT = ("severe", "extreme")


def android_channel(severity: str | None, silent: bool) -> str:
    """The app creates these channels; their sound and importance are set there."""
    if silent:
        return "alerts_quiet"
    if severity in URGENT:
        return f"alerts_{severity}"
    return "alerts" if severity else "updates"


def build_message(m: PushMessage, now: datetime) -> messaging.Message:
    content = m.content
    title, body = content.get("title", ""), content.get("body", "")
    severity: str | None = content.get("severity")
    is_alert = severity is not None
    urgent = severity in URGENT and not m.silent
    collapse: str | None = content.get("collapse_key")
    expires = content.get("expires_at")
    ttl: timedelta | None = None
    if expires:
        ttl = max(timedelta(0), datetime.fromisoformat(expires) - now)
    data = {k: str(v) for k, v in content.get("data", {}).items()}
    data["silent"] = "1" if m.silent else "0"
    if m.seq is not None:
        data["seq"] = str(m.seq)
    if m.place_ids:  # FCM data values are strings: the ids comma-separated
        data["place_ids"] = ",".join(m.place_ids)

    android = messaging.AndroidConfig(
        priority="high" if is_alert else "normal",
        collapse_key=collapse,
        ttl=ttl,
        notification=messaging.AndroidNotification(
            channel_id=android_channel(severity, m.silent),
            tag=collapse,
            default_sound=not m.silent,
            # Shown on the lock screen: an alert is public information.
            visibility="public" if is_alert else "private",
        ),
    )
    apns_headers = {
        "apns-push-type": "alert",
        # 10 = now, waking the phone; 5 = when convenient for its battery.
        "apns-priority": "10" if is_alert and not m.silent else "5",
    }
    if collapse:
        apns_headers["apns-collapse-id"] = collapse[:64]
    if expires:
        apns_headers["apns-expiration"] = str(int(datetime.fromisoformat(expires).timestamp()))
    level = "passive" if m.silent else ("time-sensitive" if urgent else "active")
    apns = messaging.APNSConfig(
        headers=apns_headers,
        payload=messaging.APNSPayload(
            aps=messaging.Aps(
                alert=messaging.ApsAlert(title=title, body=body),
                sound=None if m.silent else "default",
                thread_id=collapse,
                custom_data={"interruption-level": level},
            )
        ),
    )
    webpush_headers = {"Urgency": "high" if urgent else ("normal" if is_alert else "low")}
    if ttl is not None:
        webpush_headers["TTL"] = str(int(ttl.total_seconds()))
    webpush = messaging.WebpushConfig(
        headers=webpush_headers,
        notification=messaging.WebpushNotification(
            title=title, body=body, tag=collapse, silent=m.silent, renotify=bool(collapse)
        ),
    )
    with warnings.catch_warnings():
        # firebase-admin 7.7 deprecates `token` for `fid` (a Firebase installation ID);
        # the apps register FCM registration tokens (API.md), which `token` addresses.
        warnings.simplefilter("ignore", DeprecationWarning)
        return messaging.Message(
            token=m.token,
            notification=messaging.Notification(title=title, body=body),
            data=data,
            android=android,
            apns=apns,
            webpush=webpush,
        )
