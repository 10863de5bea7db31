"""The push senders the settings can name, and the embedded one, which logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from app.push.senders import Outcome, PushMessage, PushSender, SendResult, Sent
from app.settings import Settings

log = logging.getLogger("app.push")


class LogSender:
    """The embedded default: one log line per message, recorded as sent."""

    async def send(self, messages: list[PushMessage]) -> AsyncIterator[list[Sent]]:
        for m in messages:
            log.info(
                "push",
                extra={
                    "delivery_id": str(m.delivery_id),
                    "platform": m.platform,
                    "silent": m.silent,
                    "title": m.content.get("title"),
                },
            )
        yield [(m, SendResult(Outcome.sent)) for m in messages]

    async def close(self) -> None:
        return None


def sender_for(settings: Settings) -> PushSender:
    """The sender NW_PUSH_SENDER names (its default: ours with a service account, else
    the log sender)."""
    chosen = settings.push_sender_chosen
    credentials = settings.firebase_credentials
    if chosen == "log" or credentials is None:  # the settings refuse FCM without a file
        return LogSender()
    # Each FCM client is loaded only when used.
    if chosen == "firebase-admin":
        from app.push.fcm import FirebaseSender

        return FirebaseSender(
            credentials, settings.fcm_endpoint, concurrency=settings.push_concurrency
        )
    from app.push.fcm_http import FcmHttpSender

    return FcmHttpSender.from_service_account(
        credentials, settings.fcm_endpoint, concurrency=settings.push_concurrency
    )
