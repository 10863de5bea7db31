"""The PushSender port: what the dispatcher hands a sender and what it answers.

It imports no adapter (app.push.adapters chooses one; app.push.fcm_http, app.push.fcm
and app.push.adapters.LogSender are they).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
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
    content: dict[str, Any] = field(default_factory=dict)  # OutboxEvent.message
    seq: int | None = None  # the recipient's own event-log seq, to resume the WebSocket from
    place_ids: tuple[str, ...] = ()  # an alert's: the recipient's places that it touched


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
    # The whole sender must wait retry_after_s (FCM's quota), not just this message.
    throttle: bool = False
    # HTTP requests this result cost: the SDK retries 500/503 by itself.
    attempts: int = 1


Sent = tuple[PushMessage, SendResult]


class PushSender(Protocol):
    def send(self, messages: list[PushMessage]) -> AsyncIterator[list[Sent]]:
        """Send a batch, yielding results in groups as they arrive, so that each group is
        recorded before the next: a crash then repeats only what was still in flight."""
        ...

    async def close(self) -> None: ...


async def in_groups(
    messages: list[PushMessage],
    send_one: Callable[[PushMessage], Awaitable[SendResult]],
    flush_s: float,
) -> AsyncIterator[list[Sent]]:
    """Send each message in a task of its own (`send_one` bounds how many are in flight)
    and yield the results as they arrive: what arrives within `flush_s` of a result goes
    in its group, so that the caller records in few transactions and a crash repeats
    only the sends still in flight. Leaving early cancels what is still going."""
    done: asyncio.Queue[Sent] = asyncio.Queue()

    async def one(m: PushMessage) -> None:
        try:
            result = await send_one(m)
        except Exception as exc:  # a bug must not leave the batch waiting for this one
            log.exception("push send failed unexpectedly")
            result = SendResult(Outcome.retry, f"{exc.__class__.__name__}: {exc}"[:500])
        done.put_nowait((m, result))

    tasks = [asyncio.create_task(one(m)) for m in messages]
    try:
        left = len(tasks)
        while left:
            group = [await done.get()]
            deadline = time.monotonic() + flush_s
            while len(group) < left:
                if not done.empty():  # no timer for what is already there
                    group.append(done.get_nowait())
                    continue
                wait = deadline - time.monotonic()
                if wait <= 0:
                    break
                try:
                    group.append(await asyncio.wait_for(done.get(), wait))
                except TimeoutError:
                    break
            left -= len(group)
            yield group
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
