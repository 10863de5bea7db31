"""Devices and dispatcher drives for push tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.outbox.models import OutboxEvent
from app.push.dispatcher import Dispatcher
from app.push.models import Delivery
from app.push.senders import Outcome, PushMessage, SendResult, Sent
from tests.auth.factories import Account


class RecordingSender:
    """Stands in for FCM at the port: records what it was given, answers as told."""

    def __init__(self, answer: dict[str, SendResult] | None = None, delay: float = 0) -> None:
        self.sent: list[PushMessage] = []
        self.answer = answer or {}
        self.delay = delay

    async def send(self, messages: list[PushMessage]) -> AsyncIterator[list[Sent]]:
        await asyncio.sleep(self.delay)
        self.sent += messages
        yield [(m, self.answer.get(m.token, SendResult(Outcome.sent))) for m in messages]

    async def close(self) -> None:
        return None


async def device(
    client: httpx.AsyncClient, who: Account, token: str, platform: str = "android"
) -> str:
    answer = await client.post(
        "/v1/devices", headers=who.headers, json={"fcm_token": token, "platform": platform}
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def drain(dispatcher: Dispatcher) -> None:
    """Run passes until one finds nothing to do (retries not yet due stay pending)."""
    while await dispatcher.run_once():
        pass


async def pending(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        events = await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(col(OutboxEvent.state) == "pending")
        )
        deliveries = await session.scalar(
            select(func.count()).select_from(Delivery).where(col(Delivery.state) == "pending")
        )
    return (events or 0) + (deliveries or 0)


async def deliver_all(dispatcher: Dispatcher, patience_s: float = 120.0) -> None:
    """Run the dispatcher, retries and waits included, until nothing is pending."""
    give_up = time.monotonic() + patience_s  # a guard against hanging, not a measurement
    while await pending(dispatcher.sessionmaker):
        assert time.monotonic() < give_up, "deliveries still pending"
        if not await dispatcher.run_once():
            await asyncio.sleep(0.1)


async def wait_for(
    condition: Callable[[], Awaitable[bool]], what: str, patience_s: float = 120.0
) -> None:
    give_up = time.monotonic() + patience_s  # a guard against hanging, not a measurement
    while not await condition():
        assert time.monotonic() < give_up, f"still waiting for {what}"
        await asyncio.sleep(0.05)
