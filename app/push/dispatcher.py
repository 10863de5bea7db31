"""The dispatcher: outbox events → one delivery per recipient device → the push sender.

Two steps, each claimed under a lease so that any number of workers can share the work
(`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one claimer, in the API process):
1. expand: an event becomes delivery rows (unique delivery key: event and device), and
   the event is marked done in the same transaction — re-expanding after a crash
   inserts nothing twice;
2. send: due deliveries go to the PushSender in batches; results are recorded, with
   backoff and jitter, Retry-After honoured, dead tokens deactivated.
A row whose lease runs out (its worker died) is claimed again by another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.alerts import service as alerts_service
from app.alerts.models import Alert, AlertStatus, MsgType
from app.alerts.recipients import resolve_chain_recipients
from app.categories import LABELS, Category
from app.db import utcnow
from app.devices import service as devices_service
from app.devices.models import Device
from app.groups import service as groups_service
from app.groups.models import Group
from app.pagination import chunks
from app.push.models import Delivery, OutboxEvent
from app.push.senders import Outcome, PushMessage, PushSender, SendResult, sender_for
from app.settings import Settings

log = logging.getLogger("app.push")


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
    ) -> None:
        self.sessionmaker = sessionmaker
        self.sender = sender
        self.lease = timedelta(seconds=lease_s)
        self.batch = batch
        self.max_attempts = max_attempts
        self.idle_s = idle_s
        self._paused_until = 0.0  # monotonic: FCM asked the whole sender to wait

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; what is in hand when it is set is finished first."""
        while not stop.is_set():
            try:
                done = await self.run_once()
            except Exception:  # a bad row must not stop the loop; it is retried later
                log.exception("dispatcher iteration failed")
                done = 0
            if not done:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.idle_s)

    async def run_once(self) -> int:
        """One pass: expand claimed events, then send due deliveries. Returns rows handled."""
        handled = 0
        for event_id in await self._claim(OutboxEvent, OutboxEvent.available_at):
            await self._expand(event_id)
            handled += 1
        if time.monotonic() < self._paused_until:
            return handled
        deliveries = await self._claim(Delivery, Delivery.next_attempt_at)
        if deliveries:
            await self._send(deliveries)
            handled += len(deliveries)
        return handled

    async def _claim(self, table: Any, due_column: Any) -> list[uuid.UUID]:
        now = utcnow()
        async with self.sessionmaker() as session, session.begin():
            stmt = (
                select(table.id)
                .where(
                    table.state == "pending",
                    due_column <= now,
                    or_(table.lease_until.is_(None), table.lease_until < now),
                )
                .order_by(due_column)
                .limit(self.batch)
            )
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            ids = list((await session.execute(stmt)).scalars())
            if ids:
                await session.execute(
                    update(table).where(table.id.in_(ids)).values(lease_until=now + self.lease)
                )
        return ids

    async def _expand(self, event_id: uuid.UUID) -> None:
        async with self.sessionmaker() as session:
            try:
                async with session.begin():
                    event = await session.get(OutboxEvent, event_id)
                    if event is None or event.state != "pending":
                        return
                    rows = await self._deliveries_for(session, event)
                    if rows:
                        insert = (
                            pg_insert
                            if session.get_bind().dialect.name == "postgresql"
                            else sqlite_insert
                        )
                        # 13 columns a row: a thousand rows stay under the bound-parameter
                        # limits of both databases.
                        for part in chunks(rows, 1000):
                            await session.execute(
                                insert(Delivery)
                                .values(part)
                                .on_conflict_do_nothing(index_elements=["delivery_key"])
                            )
                    event.state, event.lease_until = "done", None
            except Exception as exc:
                log.exception("event could not be expanded", extra={"event_id": str(event_id)})
                await self._event_failed(event_id, exc)

    async def _event_failed(self, event_id: uuid.UUID, exc: Exception) -> None:
        async with self.sessionmaker() as session, session.begin():
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

    async def _deliveries_for(
        self, session: AsyncSession, event: OutboxEvent
    ) -> list[dict[str, Any]]:
        """Who gets this event, on which devices, saying what."""
        payload = event.payload
        kind = event.event_type
        silent: dict[uuid.UUID, bool]
        subject: uuid.UUID | None = None
        if kind.startswith("alert."):
            alert = await session.get(Alert, uuid.UUID(payload["alert_id"]))
            if alert is None:
                return []
            versions = await alerts_service.chain(session, alert)
            silent = await resolve_chain_recipients(session, versions, at=alert.issued_at)
            content = _alert_message(alert, kind)
            subject = alert.chain_id
        elif kind in ("membership.requested", "membership.approved"):
            group = await session.get(Group, uuid.UUID(payload["group_id"]))
            if group is None:
                return []
            if kind == "membership.requested":
                users = await groups_service.member_ids(session, [group.id], moderators_only=True)
                title = f"New request to join {group.name}"
            else:
                users = {uuid.UUID(payload["user_id"])}
                title = f"You are now a member of {group.name}"
            silent = dict.fromkeys(users, False)
            content = {"title": title, "body": "", "data": {"group_id": str(group.id)}}
            subject = group.id
        elif kind == "incident.status_changed" and payload.get("reporter_id"):
            silent = {uuid.UUID(payload["reporter_id"]): False}
            content = {
                "title": f"Your report is now {payload['status']}",
                "body": "",
                "data": {"incident_id": payload["incident_id"]},
            }
            subject = uuid.UUID(payload["incident_id"])
        elif kind == "incident.verified":
            groups = [uuid.UUID(g) for g in payload.get("group_ids", [])]
            users = await groups_service.member_ids(session, groups) if groups else set()
            silent = dict.fromkeys(users, False)
            content = {
                "title": "A report near you was verified",
                "body": "",
                "data": {"incident_id": payload["incident_id"]},
            }
            subject = uuid.UUID(payload["incident_id"])
        else:
            return []  # e.g. incident.created: realtime only, no push
        content["data"] = {**content.get("data", {}), "type": kind, "event_id": str(event.id)}
        devices = await devices_service.active_devices(session, silent)
        return [
            {
                "id": uuid.uuid4(),
                "delivery_key": f"{event.id}:{d.id}",
                "event_id": event.id,
                "event_type": kind,
                "subject_id": subject,
                "user_id": d.user_id,
                "device_id": d.id,
                "silent": silent[d.user_id],
                "message": content,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": utcnow(),
                "created_at": utcnow(),
            }
            for d in devices
        ]

    async def _send(self, ids: list[uuid.UUID]) -> None:
        async with self.sessionmaker() as session:
            rows = (
                await session.execute(
                    select(Delivery, Device)
                    .join(Device, Device.id == Delivery.device_id)
                    .where(Delivery.id.in_(ids))
                )
            ).all()
        now = utcnow()
        live = {d.id: (d, dev) for d, dev in rows if dev.active and not _expired(d, now)}
        expired = [d.id for d, dev in rows if dev.active and d.id not in live]
        gone = set(ids) - set(live) - set(expired)
        async with self.sessionmaker() as session, session.begin():
            for done, why in ((gone, "device inactive"), (expired, "expired before sending")):
                if done:
                    await session.execute(
                        update(Delivery)
                        .where(Delivery.id.in_(done))
                        .values(state="failed", last_error=why, lease_until=None)
                    )
        messages = [
            PushMessage(d.id, dev.fcm_token, dev.platform, d.silent, d.message)
            for d, dev in live.values()
        ]
        if messages:
            async for group in self.sender.send(messages):
                await self._record(
                    [(live[m.delivery_id][0], live[m.delivery_id][1], r) for m, r in group]
                )

    async def _record(self, results: list[tuple[Delivery, Device, SendResult]]) -> None:
        """One transaction per group of results, in a few statements: outcomes other than
        a retry share their values, grouped by (state, error, attempts)."""
        now = utcnow()
        finished: dict[tuple[str, str | None, int], list[uuid.UUID]] = {}
        dead_devices: list[uuid.UUID] = []
        async with self.sessionmaker() as session, session.begin():
            for delivery, device, result in results:
                attempts = delivery.attempts + result.attempts
                if result.throttle and result.retry_after_s:
                    # FCM's quota is the sender's, not the message's: stop claiming.
                    self._paused_until = max(
                        self._paused_until, time.monotonic() + result.retry_after_s
                    )
                if result.outcome == Outcome.sent:
                    finished.setdefault(("sent", None, result.attempts), []).append(delivery.id)
                elif result.outcome == Outcome.invalid_token:
                    key = ("failed", result.error or "invalid token", result.attempts)
                    finished.setdefault(key, []).append(delivery.id)
                    dead_devices.append(device.id)
                elif result.outcome == Outcome.retry and attempts < self.max_attempts:
                    wait = (
                        timedelta(seconds=result.retry_after_s)
                        if result.retry_after_s
                        else _backoff(attempts)
                    )
                    await session.execute(
                        update(Delivery)
                        .where(Delivery.id == delivery.id)
                        .values(
                            attempts=attempts,
                            lease_until=None,
                            next_attempt_at=now + wait,
                            last_error=result.error,
                        )
                    )
                else:
                    key = ("failed", result.error or "gave up", result.attempts)
                    finished.setdefault(key, []).append(delivery.id)
            for (state, error, spent), done in finished.items():
                await session.execute(
                    update(Delivery)
                    .where(Delivery.id.in_(done))
                    .values(
                        state=state,
                        last_error=error,
                        attempts=Delivery.attempts + spent,
                        lease_until=None,
                        sent_at=now if state == "sent" else None,
                    )
                )
            if dead_devices:
                await session.execute(
                    update(Device)
                    .where(Device.id.in_(dead_devices))
                    .values(active=False, deactivated_at=now)
                )


def _expired(delivery: Delivery, now: datetime) -> bool:
    expires = delivery.message.get("expires_at")
    return isinstance(expires, str) and datetime.fromisoformat(expires) <= now


async def run_dispatcher(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], stop: asyncio.Event
) -> None:
    """The dispatcher with the configured sender, until `stop` is set."""
    sender = sender_for(settings)
    dispatcher = Dispatcher(
        sessionmaker,
        sender,
        lease_s=settings.push_lease_s,
        batch=settings.push_batch,
        max_attempts=settings.push_max_attempts,
    )
    try:
        await dispatcher.run(stop)
    finally:
        await sender.close()


def _backoff(attempt: int) -> timedelta:
    """Exponential, capped at 5 minutes, with full jitter so retries do not stampede."""
    return timedelta(seconds=random.uniform(0, min(300.0, 2.0**attempt)))  # noqa: S311


def _alert_message(alert: Alert, kind: str) -> dict[str, Any]:
    title = alert.title
    if alert.msg_type == MsgType.cancel:
        title = f"Cancelled: {title}"
    if alert.status == AlertStatus.exercise:
        title = f"[EXERCISE] {title}"
    return {
        "title": title,
        "body": alert.body[:1000],
        "severity": alert.severity,
        "collapse_key": str(alert.chain_id),
        "expires_at": alert.expires_at.isoformat(),
        "data": {
            "alert_id": str(alert.id),
            "chain_id": str(alert.chain_id),
            "severity": alert.severity,
            "category": LABELS[Category(alert.category)],
        },
    }
