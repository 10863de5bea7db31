"""The PushSender port and its embedded adapter, which logs instead of pushing."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

log = logging.getLogger("app.push")


@dataclass(frozen=True)
class PushMessage:
    delivery_id: uuid.UUID
    token: str
    platform: str
    silent: bool
    content: dict[str, Any] = field(default_factory=dict)  # Delivery.message


class Outcome(StrEnum):
    sent = "sent"
    retry = "retry"  # try again later (backoff, or retry_after_s)
    invalid_token = "invalid_token"  # noqa: S105 (the device is gone: deactivate it)
    failed = "failed"  # our fault or permanent: do not retry


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    error: str | None = None
    retry_after_s: float | None = None


class PushSender(Protocol):
    async def send(self, messages: list[PushMessage]) -> list[SendResult]:
        """Send a batch; one result per message, in order."""


class LogSender:
    """The embedded default: one log line per message, recorded as sent."""

    async def send(self, messages: list[PushMessage]) -> list[SendResult]:
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
        return [SendResult(Outcome.sent) for _ in messages]
