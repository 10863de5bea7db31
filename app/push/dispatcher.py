"""The dispatcher: outbox events → one delivery per recipient device → the push sender.

Two steps, each claimed under a lease so that any number of workers can share the work
(`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one claimer, in the API process):
1. expand: an event becomes delivery rows (unique delivery key: event and device),
   written a slice of recipients at a time so that sending starts while a large alert
   is still being expanded; the event is marked done after the last slice. Expanding
   again after a crash inserts nothing twice.
2. send: due deliveries go to the PushSender in batches, several batches in flight;
   results are recorded as they arrive, with backoff and jitter, Retry-After honoured,
   dead tokens deactivated.
A row whose lease runs out (its worker died) is claimed again by another. The loops
sleep until an outbox event commits (in-process signal, or LISTEN/NOTIFY on PostgreSQL)
or a short poll interval passes (retries coming due).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from app import retention
from app.alerts.models import AlertReceipt
from app.alerts.recipients import Receipt
from app.db import URGENT_OPTION, insert_for, reading, utcnow
from app.devices import service as devices_service
from app.devices.models import Device
from app.evidence import checks as evidence_checks
from app.incidents import service as incidents_service
from app.incidents.models import Incident
from app.outbox import claims, wakeup
from app.outbox.channels import Fanout
from app.outbox.models import OutboxEvent
from app.push.adapters import sender_for
from app.push.audience import Audience, audience_of
from app.push.models import Delivery
from app.push.senders import Outcome, PushMessage, PushSender, SendResult
from app.realtime import log as event_log
from app.realtime.bus import Bus, LocalBus, bus_for
from app.retention import Policy as RetentionPolicy
from app.settings import Settings
from app.sqlite_loop import offloaded

log = logging.getLogger("app.push")

# Recipients per expansion slice: the first small, so the first push leaves soon.
FIRST_SLICE, SLICE = 200, 5_000
PRUNE_EVERY_S = 600.0
# The hot statements are Core, on the tables: the ORM's bulk insert and its UPDATE with
# session synchronisation cost milliseconds a statement, and loading rows through it a
# few microseconds each, which at thousands of pushes a second is most of the work.
_DELIVERIES = Delivery.__table__
_DEVICES = Device.__table__
_OUTBOX = OutboxEvent.__table__
_RECEIPTS = AlertReceipt.__table__
# Events claimed and their audiences read together (most have nobody to tell: a report
# outside every group).
EXPAND_BATCH = 200


@dataclass(frozen=True)
class _Claimed:
    delivery_id: uuid.UUID
    attempts: int
    device_id: uuid.UUID


class Dispatcher:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        sender: PushSender,
        *,
        lease_s: float = 60.0,
        batch: int = 500,
        max_attempts: int = 8,
        idle_s: float = 0.5,
        batches_in_flight: int = 2,
        bus: Bus | None = None,
        retention: timedelta = timedelta(days=7),
        policy: RetentionPolicy | None = None,
        evidence: bool = False,
        fanouts: Sequence[Fanout] = (),
    ) -> None:
        self.sessionmaker = sessionmaker
        # Channels that write deliveries of their own from the same events (webhooks).
        self.fanouts = tuple(fanouts)
        self.sender = sender
        self.lease = timedelta(seconds=lease_s)
        self.batch = batch
        self.max_attempts = max_attempts
        self.idle_s = idle_s
        self.batches_in_flight = batches_in_flight
        self.bus: Bus = bus or LocalBus()
        self.retention = retention
        # With a policy, the dispatcher also purges once a day (app.retention).
        self.policy = policy
        # With evidence, it also checks verified groups for rising crime (weekly each).
        self.evidence = evidence
        self._pruned_at = 0.0  # monotonic
        self._paused_until = 0.0  # monotonic: FCM asked the whole sender to wait
        self._new_events = asyncio.Event()
        self._new_deliveries = [asyncio.Event() for _ in range(batches_in_flight)]

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        """A write transaction; on SQLite, its turn comes before requests' (app.sqlite_turns)."""
        async with self.sessionmaker() as session, session.begin():
            await session.connection(execution_options={URGENT_OPTION: True})
            yield session

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; what is in hand when it is set is finished first."""
        wakeup.register(self._new_events)
        async with self._listening():
            try:
                await asyncio.gather(
                    self._loop(stop, self._expand_pass, self._new_events),
                    *(self._loop(stop, self._send_pass, wake) for wake in self._new_deliveries),
                    *([self._purging(stop, self.policy)] if self.policy else []),
                    *([evidence_checks.checking(self.sessionmaker, stop)] if self.evidence else []),
                )
            finally:
                wakeup.unregister(self._new_events)

    async def _purging(self, stop: asyncio.Event, policy: RetentionPolicy) -> None:
        """Retention once a day, beside the other loops: a long first purge (a database
        from before retention) holds no push back."""

        async def run() -> None:
            await retention.purge(self.sessionmaker, policy, stop=stop)

        await retention.daily(run, stop)

    async def run_once(self) -> int:
        """One pass of each step, one after the other. Returns rows handled."""
        handled = await self._expand_pass()
        return handled + await self._send_pass()

    async def _loop(
        self, stop: asyncio.Event, step: Callable[[], Awaitable[int]], wake: asyncio.Event
    ) -> None:
        while not stop.is_set():
            wake.clear()  # before the step, so a signal during it is not lost
            try:
                done = await step()
            except Exception:  # a bad row must not stop the loop; it is retried later
                log.exception("dispatcher step failed")
                done = 0
            if not done:
                await wakeup.idle(stop, wake, self.idle_s)

    @contextlib.asynccontextmanager
    async def _listening(self) -> AsyncIterator[None]:
        """LISTEN for outbox commits from other processes (PostgreSQL only), on a
        connection of its own for as long as the dispatcher runs."""
        engine = self.sessionmaker.kw.get("bind")
        if not isinstance(engine, AsyncEngine) or engine.dialect.name != "postgresql":
            yield
            return

        def heard(*_: object) -> None:
            self._new_events.set()

        async with contextlib.AsyncExitStack() as stack:
            try:
                connection = await stack.enter_async_context(engine.connect())
                raw: Any = (await connection.get_raw_connection()).driver_connection
                await raw.add_listener(wakeup.CHANNEL, heard)
                stack.push_async_callback(raw.remove_listener, wakeup.CHANNEL, heard)
            except Exception:
                log.warning("cannot LISTEN for outbox events; polling instead", exc_info=True)
            yield

    # -- claiming ----------------------------------------------------------------------
    async def _claim(self, table: Table, due_column: Any, limit: int) -> list[uuid.UUID]:
        async with self._writing() as session:
            return await claims.claim(session, table, due_column, limit, self.lease, utcnow())

    # -- expanding ---------------------------------------------------------------------
    async def _expand_pass(self) -> int:
        if time.monotonic() - self._pruned_at > PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            async with self._writing() as session:
                await event_log.prune(session, utcnow() - self.retention)
        claimed = await self._claim(_OUTBOX, _OUTBOX.c.available_at, EXPAND_BATCH)
        if not claimed:
            return 0
        events = await self._fan_out(claimed)
        # The audiences of the whole batch in one read, and the events nobody is to hear
        # of (most reports) closed in one write: under load, each session costs a turn
        # of the event loop behind every request in flight (≈150 ms), and one at a time
        # the dispatcher fell behind a stream of reports by the whole stream.
        audiences = await self._audiences(events)
        closed: list[tuple[uuid.UUID, dict[str, Any]]] = []
        for event_id, (kind, audience) in audiences.items():
            rendered: dict[str, Any] = {}
            if audience is not None:
                # Rendered once, before the first delivery can be sent: written with the
                # first slice, or with the end of the work when nobody is to hear of it.
                rendered = {"message": audience.message, "realtime": audience.realtime}
            if audience is None or not audience.silent:
                closed.append((event_id, rendered))
            else:
                await self._expand(event_id, kind, audience, rendered)
        if closed:
            try:
                async with self._writing() as session:
                    if silent := [event_id for event_id, rendered in closed if not rendered]:
                        await session.execute(_done(silent, {}))
                    for event_id, rendered in closed:
                        if rendered:
                            await session.execute(_done([event_id], rendered))
            except Exception as exc:
                log.exception("events could not be closed")
                for event_id, _ in closed:
                    await self._event_failed(event_id, exc)
        return len(claimed)

    async def _fan_out(self, events: list[uuid.UUID]) -> list[uuid.UUID]:
        """Hand the claimed events to the other channels first (their rows are written
        before the first push slice, so that a large alert delays no webhook); the events
        a channel fails on are failed, to be tried again whole, and not expanded now."""
        if not self.fanouts:
            return events
        try:
            for fanout in self.fanouts:
                await fanout.fan_out(events)
            return events
        except Exception:
            log.exception("a channel could not expand a batch of events; one at a time")
        kept = []
        for event_id in events:
            try:
                for fanout in self.fanouts:
                    await fanout.fan_out([event_id])
                kept.append(event_id)
            except Exception as exc:
                log.exception(
                    "a channel could not expand an event", extra={"event_id": str(event_id)}
                )
                await self._event_failed(event_id, exc)
        return kept

    async def _audiences(
        self, events: list[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[str, Audience | None]]:
        """Who hears of each pending event; an event that cannot be read is failed."""
        out: dict[uuid.UUID, tuple[str, Audience | None]] = {}
        failed: list[tuple[uuid.UUID, Exception]] = []
        async with reading(self.sessionmaker) as session:
            rows = await session.execute(select(OutboxEvent).where(col(OutboxEvent.id).in_(events)))
            pending = {e.id: e for e in rows.scalars() if e.state == "pending"}
            unheard = await self._reports_nobody_hears_of(session, list(pending.values()))
            for event_id in events:
                event = pending.get(event_id)
                if event is None:
                    continue
                if event_id in unheard:
                    out[event_id] = (event.event_type, None)
                    continue
                try:
                    out[event_id] = (event.event_type, await audience_of(session, event))
                except Exception as exc:
                    log.exception("event could not be expanded", extra={"event_id": str(event_id)})
                    failed.append((event_id, exc))
        for event_id, error in failed:
            await self._event_failed(event_id, error)
        return out

    async def _reports_nobody_hears_of(
        self, session: AsyncSession, events: list[OutboxEvent]
    ) -> set[uuid.UUID]:
        """The new-report events whose report lies outside every group: found for the
        whole batch in two queries, where `audience_of` takes three for each."""
        by_incident: dict[uuid.UUID, uuid.UUID] = {}
        for event in events:
            if event.event_type == "incident.created":
                with contextlib.suppress(KeyError, ValueError):
                    by_incident[uuid.UUID(event.payload["incident_id"])] = event.id
        if not by_incident:
            return set()
        rows = await session.execute(
            select(
                col(Incident.id),
                col(Incident.lon),
                col(Incident.lat),
                col(Incident.snapped_lon),
                col(Incident.snapped_lat),
            ).where(col(Incident.id).in_(list(by_incident)))
        )
        points = {row[0]: (row[1], row[2], row[3], row[4]) for row in rows}
        outside = await incidents_service.outside_every_group(session, points)
        return {by_incident[incident_id] for incident_id in outside}

    async def _expand(
        self, event_id: uuid.UUID, kind: str, audience: Audience, rendered: dict[str, Any]
    ) -> None:
        try:
            parts = list(_slices(list(audience.silent)))
            for i, users in enumerate(parts):
                first = rendered if i == 0 else {}
                await self._write_slice(event_id, kind, audience.subject_id, users, audience, first)
            async with self._writing() as session:
                await session.execute(_done([event_id], {}))
        except Exception as exc:
            log.exception("event could not be expanded", extra={"event_id": str(event_id)})
            await self._event_failed(event_id, exc)

    async def _write_slice(
        self,
        event_id: uuid.UUID,
        kind: str,
        subject_id: uuid.UUID | None,
        users: list[uuid.UUID],
        audience: Audience,
        rendered: dict[str, Any],
    ) -> None:
        rows: list[dict[str, Any]] = []
        # Thousands of rows at a time: on SQLite, written off the event loop's thread.
        with offloaded():
            async with self._writing() as session:
                seqs = await event_log.append(session, event_id, kind, users)
                now = utcnow()
                if audience.receipts is not None:
                    await _write_receipts(session, event_id, audience, audience.receipts, users)
                if audience.push:
                    devices = await devices_service.active_devices(session, users)
                    rows = [
                        {
                            "id": uuid.uuid4(),
                            "delivery_key": f"{event_id}:{device_id}",
                            "event_id": event_id,
                            "event_type": kind,
                            "subject_id": subject_id,
                            "user_id": user_id,
                            "device_id": device_id,
                            "silent": audience.silent[user_id],
                            "seq": seqs.get(user_id),
                            "state": "pending",
                            "attempts": 0,
                            "next_attempt_at": now,
                            "created_at": now,
                        }
                        for device_id, user_id in devices
                    ]
                if rows:
                    # executemany: SQLAlchemy batches it into multi-row INSERTs from one cached
                    # statement, instead of compiling a new thousand-row VALUES each time.
                    await session.execute(
                        insert_for(session, _DELIVERIES).on_conflict_do_nothing(
                            index_elements=["delivery_key"]
                        ),
                        rows,
                    )
                await session.execute(  # still ours while we work through a large audience
                    update(_OUTBOX)
                    .where(_OUTBOX.c.id == event_id)
                    .values(lease_until=now + self.lease, **rendered)
                )
        if seqs:
            await self.bus.publish()
        if rows:
            for wake in self._new_deliveries:
                wake.set()
            # Let the woken senders queue for their turn before the next slice takes it.
            await asyncio.sleep(0.005)

    async def _event_failed(self, event_id: uuid.UUID, exc: Exception) -> None:
        async with self._writing() as session:
            event = await session.get(OutboxEvent, event_id)
            if event is None:
                return
            event.attempts += 1
            event.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
            event.lease_until = None
            if event.attempts >= self.max_attempts:
                event.state = "dead"  # parked for an admin to look at and retry
            else:
                event.available_at = utcnow() + _backoff(event.attempts)

    # -- sending -----------------------------------------------------------------------
    async def _send_pass(self) -> int:
        if time.monotonic() < self._paused_until:
            return 0
        deliveries = await self._claim(_DELIVERIES, _DELIVERIES.c.next_attempt_at, self.batch)
        if deliveries:
            await self._send(deliveries)
        return len(deliveries)

    async def _send(self, ids: list[uuid.UUID]) -> None:
        async with reading(self.sessionmaker) as session:
            rows = (
                await session.execute(
                    select(
                        _DELIVERIES.c.id,
                        _DELIVERIES.c.attempts,
                        _DELIVERIES.c.silent,
                        _DELIVERIES.c.event_id,
                        _DELIVERIES.c.seq,
                        _DEVICES.c.id,
                        _DEVICES.c.fcm_token,
                        _DEVICES.c.platform,
                        _DEVICES.c.active,
                        _RECEIPTS.c.place_ids,
                    )
                    .select_from(_DELIVERIES)
                    .join(_DEVICES, _DEVICES.c.id == _DELIVERIES.c.device_id)
                    # The matched places ride in the push, for the app to say why offline.
                    .outerjoin(
                        _RECEIPTS,
                        and_(
                            _RECEIPTS.c.event_id == _DELIVERIES.c.event_id,
                            _RECEIPTS.c.user_id == _DELIVERIES.c.user_id,
                        ),
                    )
                    .where(_DELIVERIES.c.id.in_(ids))
                )
            ).all()
            event_ids = {row[3] for row in rows}
            messages: dict[uuid.UUID, dict[str, Any] | None] = {
                event_id: message
                for event_id, message in (
                    await session.execute(
                        select(_OUTBOX.c.id, _OUTBOX.c.message).where(_OUTBOX.c.id.in_(event_ids))
                    )
                ).all()
            }
        now = utcnow()
        claimed: dict[uuid.UUID, _Claimed] = {}
        outgoing: list[PushMessage] = []
        expired: list[uuid.UUID] = []
        for (
            delivery_id,
            attempts,
            silent,
            event_id,
            seq,
            device_id,
            token,
            platform,
            active,
            place_ids,
        ) in rows:
            message = messages.get(event_id) or {}
            if not active:
                continue
            if _expired(message, now):
                expired.append(delivery_id)
                continue
            claimed[delivery_id] = _Claimed(delivery_id, attempts, device_id)
            outgoing.append(
                PushMessage(
                    delivery_id, token, platform, silent, message, seq, tuple(place_ids or ())
                )
            )
        gone = set(ids) - set(claimed) - set(expired)
        if gone or expired:
            async with self._writing() as session:
                for done, why in ((gone, "device inactive"), (expired, "expired before sending")):
                    if done:
                        await session.execute(
                            update(_DELIVERIES)
                            .where(_DELIVERIES.c.id.in_(done))
                            .values(state="failed", last_error=why, lease_until=None)
                        )
        if not outgoing:
            return
        in_flight = set(claimed)
        renewing = asyncio.create_task(self._renew_leases(in_flight))
        try:
            async for group in self.sender.send(outgoing):
                await self._record([(claimed[m.delivery_id], r) for m, r in group])
                in_flight.difference_update(m.delivery_id for m, _ in group)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _renew_leases(self, in_flight: set[uuid.UUID]) -> None:
        """Keep the claim on a batch that takes longer than a lease (a slow FCM, a long
        Retry-After), so another worker does not take and send it a second time."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            if in_flight:
                async with self._writing() as session:
                    await session.execute(
                        update(_DELIVERIES)
                        .where(
                            _DELIVERIES.c.id.in_(list(in_flight)),
                            _DELIVERIES.c.state == "pending",
                        )
                        .values(lease_until=utcnow() + self.lease)
                    )

    async def _record(self, results: list[tuple[_Claimed, SendResult]]) -> None:
        """One transaction per group of results, in a few statements: outcomes other than
        a retry share their values, grouped by (state, error, attempts)."""
        now = utcnow()
        finished: dict[tuple[str, str | None, int], list[uuid.UUID]] = {}
        dead_devices: list[uuid.UUID] = []
        async with self._writing() as session:
            for claimed, result in results:
                attempts = claimed.attempts + result.attempts
                if result.throttle and result.retry_after_s:
                    # FCM's quota is the sender's, not the message's: stop claiming.
                    self._paused_until = max(
                        self._paused_until, time.monotonic() + result.retry_after_s
                    )
                key: tuple[str, str | None, int]
                if result.outcome == Outcome.sent:
                    key = ("sent", None, result.attempts)
                elif result.outcome == Outcome.invalid_token:
                    key = ("failed", result.error or "invalid token", result.attempts)
                    dead_devices.append(claimed.device_id)
                elif result.outcome == Outcome.retry and attempts < self.max_attempts:
                    wait = (
                        timedelta(seconds=result.retry_after_s)
                        if result.retry_after_s
                        else _backoff(attempts)
                    )
                    await session.execute(
                        update(_DELIVERIES)
                        .where(_DELIVERIES.c.id == claimed.delivery_id)
                        .values(
                            attempts=attempts,
                            lease_until=None,
                            next_attempt_at=now + wait,
                            last_error=result.error,
                        )
                    )
                    continue
                else:
                    key = ("failed", result.error or "gave up", result.attempts)
                finished.setdefault(key, []).append(claimed.delivery_id)
            for (state, error, spent), done in finished.items():
                await session.execute(
                    update(_DELIVERIES)
                    .where(_DELIVERIES.c.id.in_(done))
                    .values(
                        state=state,
                        last_error=error,
                        attempts=_DELIVERIES.c.attempts + spent,
                        lease_until=None,
                        sent_at=now if state == "sent" else None,
                    )
                )
            if dead_devices:
                await session.execute(
                    update(_DEVICES)
                    .where(_DEVICES.c.id.in_(dead_devices))
                    .values(active=False, deactivated_at=now)
                )


async def _write_receipts(
    session: AsyncSession,
    event_id: uuid.UUID,
    audience: Audience,
    receipts: dict[uuid.UUID, Receipt],
    users: list[uuid.UUID],
) -> None:
    """Why each of these recipients gets the alert, beside their event-log rows: written
    once (an expansion done again after a crash adds nothing)."""
    now = utcnow()
    rows = []
    for user_id in users:
        receipt = receipts[user_id]
        window = receipt.quiet_hours
        rows.append(
            {
                "id": uuid.uuid4(),
                "event_id": event_id,
                "alert_id": audience.alert_id,
                "chain_id": audience.subject_id,
                "user_id": user_id,
                "silent": receipt.silent,
                "place_ids": [str(p) for p in receipt.place_ids],
                "group_ids": [str(g) for g in receipt.group_ids],
                "quiet_hours": (
                    {"start": window[0], "end": window[1], "timezone": window[2]}
                    if window
                    else None
                ),
                "overrode": list(receipt.overrode),
                "created_at": now,
            }
        )
    await session.execute(
        insert_for(session, _RECEIPTS).on_conflict_do_nothing(
            index_elements=["event_id", "user_id"]
        ),
        rows,
    )


def _done(event_ids: list[uuid.UUID], rendered: dict[str, Any]) -> Any:
    return (
        update(_OUTBOX)
        .where(_OUTBOX.c.id.in_(event_ids))
        .values(state="done", lease_until=None, **rendered)
    )


def _slices(users: list[uuid.UUID]) -> Iterator[list[uuid.UUID]]:
    if users:
        yield users[:FIRST_SLICE]
    for start in range(FIRST_SLICE, len(users), SLICE):
        yield users[start : start + SLICE]


def _expired(message: dict[str, Any], now: datetime) -> bool:
    expires = message.get("expires_at")
    return isinstance(expires, str) and datetime.fromisoformat(expires) <= now


async def run_dispatcher(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    stop: asyncio.Event,
    bus: Bus | None = None,
    fanouts: Sequence[Fanout] = (),
) -> None:
    """The dispatcher with the configured sender and bus, until `stop` is set."""
    sender = sender_for(settings)
    own_bus = bus is None
    bus = bus or bus_for(settings.redis_url)
    dispatcher = Dispatcher(
        sessionmaker,
        sender,
        bus=bus,
        lease_s=settings.push_lease_s,
        batch=settings.push_batch,
        max_attempts=settings.push_max_attempts,
        retention=timedelta(seconds=settings.event_retention_s),
        policy=RetentionPolicy.of(settings),
        evidence=settings.evidence_checks,
        fanouts=fanouts,
    )
    try:
        await dispatcher.run(stop)
    finally:
        await sender.close()
        if own_bus:
            await bus.close()


def _backoff(attempt: int) -> timedelta:
    """Exponential, capped at 5 minutes, with full jitter so retries do not stampede."""
    return timedelta(seconds=random.uniform(0, min(300.0, 2.0**attempt)))  # noqa: S311
