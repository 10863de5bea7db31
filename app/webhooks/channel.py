"""The webhook channel: due deliveries → signed POSTs to the subscribers' URLs.

Its own table (`webhook_deliveries`), its own claims (app.outbox.claims) and its own
loops, so that a receiver that is slow or never answers holds back no push and no other
channel: the push dispatcher only writes the rows (app.webhooks.fanout).

At least once: a delivery is claimed under a lease; a worker that dies lets it run out
and another sends it again, with the same `webhook-id`. Each attempt is recorded with
its status, latency and error. A delivery is retried on anything but a 2xx or 410, on
the schedule Standard Webhooks suggests (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, each
±10 %: eight attempts over more than a day), never sooner than a `Retry-After` asks.
410 Gone unsubscribes (the subscription is disabled, saying why); a delivery that fails
its last attempt while the subscription has failed every attempt for a day disables it.
Every URL is judged again at each attempt (app.outbound): an allow-list since shrunk, or
DNS that now answers loopback, refuses the attempt, which is recorded and never sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import and_, case, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.models import ApiClient
from app.db import URGENT_OPTION, reading, utcnow
from app.outbound.guard import Policy, Refused
from app.outbound.http import DEFAULT_TIMEOUT, OutboundClient
from app.outbox import claims, wakeup
from app.settings import Settings
from app.webhooks import retries, signing
from app.webhooks.fanout import WebhookFanout
from app.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookMessage,
    WebhookSubscription,
)
from app.webhooks.service import changed, webhook_id

log = logging.getLogger("app.webhooks")

GONE_REASON = "The receiver answered 410 Gone: unsubscribed."
USER_AGENT = "Neighbourwatch-Webhooks/1"

_DELIVERIES = WebhookDelivery.__table__
_SUBS = WebhookSubscription.__table__
_MESSAGES = WebhookMessage.__table__
_ATTEMPTS = WebhookAttempt.__table__
_CLIENTS = ApiClient.__table__


@dataclass(frozen=True)
class _Due:
    delivery_id: uuid.UUID
    subscription_id: uuid.UUID
    attempts: int
    url: str
    keys: tuple[bytes, ...]
    body: bytes


@dataclass(frozen=True)
class _Result:
    due: _Due
    at: datetime
    status: int | None
    latency_ms: int | None
    error: str | None
    retry_after_s: float | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookChannel:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        policy: Policy,
        *,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        concurrency: int = 100,
        batch: int = 200,
        loops: int = 2,
        lease_s: float = 60.0,
        idle_s: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.client = OutboundClient(policy, timeout=timeout, concurrency=concurrency)
        self.batch = batch
        self.loops = loops
        # Longer than any attempt can take (the timeout bounds it), so that no lease runs
        # out under a request still in flight.
        self.lease = timedelta(seconds=max(lease_s, (timeout.total or 0) * 2))
        self.idle_s = idle_s
        self.clock = clock
        self._wakes = [asyncio.Event() for _ in range(loops)]
        # Deliveries the fan-out wrote leased to us: (when, id), sent before any claim.
        self._handed: list[tuple[float, uuid.UUID]] = []
        self.fanout = WebhookFanout(sessionmaker, self.hand_over, self.lease)

    def hand_over(self, ids: list[uuid.UUID]) -> None:
        at = time.monotonic()
        self._handed += [(at, i) for i in ids]
        self.wake()

    def _take_handed(self) -> list[uuid.UUID]:
        """Up to a batch of the rows handed over, but none whose lease may be running out
        (a busy channel: another worker may have claimed those since)."""
        taken, self._handed = self._handed[: self.batch], self._handed[self.batch :]
        fresh_after = time.monotonic() - self.lease.total_seconds() / 2
        return [i for at, i in taken if at > fresh_after]

    def wake(self) -> None:
        for event in self._wakes:
            event.set()

    async def close(self) -> None:
        await self.client.close()

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session, session.begin():
            await session.connection(execution_options={URGENT_OPTION: True})
            yield session

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set; attempts in flight then are abandoned to their lease
        (and sent again later: at least once)."""
        for event in self._wakes:
            wakeup.register(event)  # pings and redeliveries written in this process
        try:
            await asyncio.gather(*(self._loop(stop, wake) for wake in self._wakes))
        finally:
            for event in self._wakes:
                wakeup.unregister(event)

    async def _loop(self, stop: asyncio.Event, wake: asyncio.Event) -> None:
        while not stop.is_set():
            wake.clear()
            step = asyncio.ensure_future(self.run_once())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait([step, stopping], return_when="FIRST_COMPLETED")
            stopping.cancel()
            if not step.done():
                step.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await step
                return
            try:
                done = step.result()
            except Exception:  # a bad row must not stop the loop; its lease runs out
                log.exception("webhook step failed")
                done = 0
            if not done:
                await wakeup.idle(stop, wake, self.idle_s)

    async def run_once(self) -> int:
        """Take the deliveries handed over by the fan-out, or claim the due ones (up to a
        batch), send them, record each result as it comes. How many were taken."""
        now = self.clock()
        ids = self._take_handed()
        if not ids:
            async with self._writing() as session:
                ids = await claims.claim(
                    session, _DELIVERIES, _DELIVERIES.c.next_attempt_at, self.batch, self.lease, now
                )
        if not ids:
            return 0
        due, dropped = await self._load(ids, now)
        if dropped:
            async with self._writing() as session:
                await session.execute(
                    update(_DELIVERIES)
                    .where(_DELIVERIES.c.id.in_(dropped))
                    .values(
                        state="failed",
                        lease_until=None,
                        finished_at=now,
                        last_error="The subscription is disabled.",
                    )
                )
        pending = {asyncio.ensure_future(self._attempt(d)) for d in due}
        try:
            while pending:
                finished, pending = await asyncio.wait(
                    pending, timeout=0.05, return_when="FIRST_COMPLETED"
                )
                if finished:
                    await self._record([task.result() for task in finished])
        finally:  # stopping: what is in flight is left to its lease, and sent again later
            for task in pending:
                task.cancel()
        return len(ids)

    async def _load(
        self, ids: list[uuid.UUID], now: datetime
    ) -> tuple[list[_Due], list[uuid.UUID]]:
        async with reading(self.sessionmaker) as session:
            rows = (
                await session.execute(
                    select(
                        _DELIVERIES.c.id,
                        _DELIVERIES.c.subscription_id,
                        _DELIVERIES.c.attempts,
                        _SUBS.c.url,
                        _SUBS.c.secret,
                        _SUBS.c.previous_secret,
                        _SUBS.c.previous_secret_expires_at,
                        _SUBS.c.enabled,
                        _CLIENTS.c.revoked_at,
                        _MESSAGES.c.body,
                    )
                    .select_from(_DELIVERIES)
                    .join(_SUBS, _SUBS.c.id == _DELIVERIES.c.subscription_id)
                    .join(_CLIENTS, _CLIENTS.c.id == _SUBS.c.client_id)
                    .join(_MESSAGES, _MESSAGES.c.id == _DELIVERIES.c.message_id)
                    .where(_DELIVERIES.c.id.in_(ids))
                )
            ).all()
        due: list[_Due] = []
        dropped: list[uuid.UUID] = []
        for row in rows:
            delivery_id, sub_id, attempts, url, secret, previous, until, enabled, revoked, body = (
                row
            )
            if not enabled or revoked is not None:
                dropped.append(delivery_id)
                continue
            keys = [signing.secret_key(secret)]
            if previous and until is not None and _aware(until) > utcnow():
                keys.append(signing.secret_key(previous))
            due.append(_Due(delivery_id, sub_id, attempts, url, tuple(keys), body.encode()))
        return due, dropped

    async def _attempt(self, due: _Due) -> _Result:
        # The signature's timestamp is the wall clock's: receivers refuse one five
        # minutes away from theirs, whatever clock schedules the retries.
        headers = signing.signed_headers(
            due.keys, webhook_id(due.delivery_id), int(time.time()), due.body
        )
        headers["content-type"] = "application/json"
        headers["user-agent"] = USER_AGENT
        at = self.clock()
        started = time.perf_counter()
        try:
            answer = await self.client.post(due.url, due.body, headers)
        except Refused as exc:
            return _Result(due, at, None, None, f"refused: {exc.reason}"[:500], None)
        except TimeoutError:
            return _Result(due, at, None, _ms(started), "timed out", None)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            failure = f"{exc.__class__.__name__}: {exc}"[:500]
            return _Result(due, at, None, _ms(started), failure, None)
        error = None if 200 <= answer.status < 300 else f"HTTP {answer.status}"
        retry_after = retries.retry_after(answer.headers.get("Retry-After"), at)
        return _Result(due, at, answer.status, round(answer.latency_s * 1000), error, retry_after)

    async def _record(self, results: list[_Result]) -> None:
        now = self.clock()
        async with self._writing() as session:
            # A subscription deleted while its delivery was in flight took the row along.
            kept = set(
                (
                    await session.execute(
                        select(_DELIVERIES.c.id).where(
                            _DELIVERIES.c.id.in_([r.due.delivery_id for r in results])
                        )
                    )
                ).scalars()
            )
            results = [r for r in results if r.due.delivery_id in kept]
            if not results:
                return
            sent = [r.due.delivery_id for r in results if r.ok]
            await session.execute(
                insert(_ATTEMPTS),
                [
                    {
                        "id": uuid.uuid4(),
                        "delivery_id": r.due.delivery_id,
                        "attempted_at": r.at,
                        "status": r.status,
                        "latency_ms": r.latency_ms,
                        "error": r.error,
                    }
                    for r in results
                ],
            )
            if sent:
                await session.execute(
                    update(_DELIVERIES)
                    .where(_DELIVERIES.c.id.in_(sent))
                    .values(
                        state="sent",
                        attempts=_DELIVERIES.c.attempts + 1,
                        lease_until=None,
                        last_status=200,
                        last_error=None,
                        finished_at=now,
                    )
                )
                # The real status, where a receiver answered another 2xx.
                for r in results:
                    if r.ok and r.status != 200:
                        await session.execute(
                            update(_DELIVERIES)
                            .where(_DELIVERIES.c.id == r.due.delivery_id)
                            .values(last_status=r.status)
                        )
                await session.execute(
                    update(_SUBS)
                    .where(_SUBS.c.id.in_({r.due.subscription_id for r in results if r.ok}))
                    .values(failing_since=None)
                )
            failed = [r for r in results if not r.ok]
            if failed:
                await self._failures(session, failed, now)

    async def _failures(self, session: AsyncSession, failed: list[_Result], now: datetime) -> None:
        subs = {r.due.subscription_id for r in failed}
        await session.execute(
            update(_SUBS)
            .where(_SUBS.c.id.in_(subs))
            .values(
                failing_since=case(
                    (_SUBS.c.failing_since.is_(None), now), else_=_SUBS.c.failing_since
                )
            )
        )
        gone: set[uuid.UUID] = set()
        gave_up: set[uuid.UUID] = set()
        for r in failed:
            attempts = r.due.attempts + 1
            values: dict[str, Any] = {
                "attempts": attempts,
                "lease_until": None,
                "last_status": r.status,
                "last_error": r.error,
            }
            if r.status == 410:
                gone.add(r.due.subscription_id)
                values.update(state="failed", finished_at=now)
            elif attempts >= retries.MAX_ATTEMPTS:
                gave_up.add(r.due.subscription_id)
                values.update(state="failed", finished_at=now)
            else:
                values["next_attempt_at"] = now + retries.wait(attempts, r.retry_after_s)
            await session.execute(
                update(_DELIVERIES).where(_DELIVERIES.c.id == r.due.delivery_id).values(**values)
            )
        for sub_id in gone:
            await _disable(session, sub_id, GONE_REASON, now)
        for sub_id in gave_up - gone:
            since = await session.scalar(select(_SUBS.c.failing_since).where(_SUBS.c.id == sub_id))
            if since is not None and now - _aware(since) >= retries.DISABLE_AFTER:
                last = next(r for r in reversed(failed) if r.due.subscription_id == sub_id)
                reason = (
                    f"Every delivery attempt failed for over a day (since "
                    f"{_aware(since).isoformat(timespec='seconds')}); the last: "
                    f"{last.error or 'no answer'}."
                )
                await _disable(session, sub_id, reason, now)


async def _disable(session: AsyncSession, sub_id: uuid.UUID, reason: str, now: datetime) -> None:
    changed()
    await session.execute(
        update(_SUBS)
        .where(_SUBS.c.id == sub_id, _SUBS.c.enabled.is_(True))
        .values(enabled=False, disabled_at=now, disabled_reason=reason)
    )
    await session.execute(
        update(_DELIVERIES)
        .where(and_(_DELIVERIES.c.subscription_id == sub_id, _DELIVERIES.c.state == "pending"))
        .values(state="failed", lease_until=None, finished_at=now, last_error=reason)
    )


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def channel_for(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> WebhookChannel:
    timeout = aiohttp.ClientTimeout(
        total=settings.webhook_timeout_s,
        connect=min(5.0, settings.webhook_timeout_s),
        sock_read=settings.webhook_timeout_s,
    )
    return WebhookChannel(
        sessionmaker,
        Policy.of(settings),
        timeout=timeout,
        concurrency=settings.webhook_concurrency,
    )
