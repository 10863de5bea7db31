"""Retention: how long what residents leave behind is kept, and the purge that applies it.

Trust is the product: a report's exact point, who was pushed what, credentials and
stored answers are kept while they serve their purpose and no longer (DESIGN §4).
`purge` applies every rule once; `nwatch purge` runs it, and so does the dispatcher once
a day (`daily`), in the API process in the embedded shape and in `nwatch worker` at
scale.

Each rule works in small batches, each its own short transaction: on SQLite a batch
holds the one write lock for milliseconds and requests take their turns in between; on
PostgreSQL rows another purger holds are skipped (FOR UPDATE SKIP LOCKED), so any number
of workers may purge at once without waiting on each other. Every rule is idempotent: a
purge cut short (a crash, a shutdown) is finished by the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, delete, exists, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.alerts.models import AlertReceipt
from app.auth.models import ApiClient, RefreshToken
from app.db import reading, utcnow
from app.groups.models import Invitation
from app.idempotency import IdempotencyRecord
from app.incidents import service as incidents_service
from app.incidents.models import Incident
from app.integrations.open311.models import Open311Contact
from app.push.models import Delivery
from app.realtime import log as event_log
from app.settings import Settings
from app.sqlite_loop import offloaded
from app.webhooks.models import WebhookDelivery, WebhookMessage, WebhookSubscription

log = logging.getLogger("app.retention")

# Rows deleted per transaction.
BATCH = 1_000
# Reports coarsened per transaction: each also moves its geo index entry (a few
# statements), so a batch holds SQLite's write lock about as long as a deleting one.
COARSEN_BATCH = 200
# Once a day; a purge that failed (the database away) is tried again sooner.
PURGE_EVERY_S = 24 * 3600.0
PURGE_RETRY_S = 600.0

_INCIDENTS = Incident.__table__
_DELIVERIES = Delivery.__table__
_RECEIPTS = AlertReceipt.__table__
_REFRESH_TOKENS = RefreshToken.__table__
_IDEMPOTENCY = IdempotencyRecord.__table__
_CONTACTS = Open311Contact.__table__
_INVITATIONS = Invitation.__table__
_WEBHOOK_DELIVERIES = WebhookDelivery.__table__
_WEBHOOK_MESSAGES = WebhookMessage.__table__
_WEBHOOK_SUBSCRIPTIONS = WebhookSubscription.__table__
_CLIENTS = ApiClient.__table__


@dataclass(frozen=True)
class Policy:
    """How long each kind of record is kept (from the NW_* settings)."""

    exact_location: timedelta
    delivery_log: timedelta
    idempotency_keys: timedelta
    event_log: timedelta
    open311_contact: timedelta

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(
            exact_location=timedelta(days=settings.exact_location_days),
            delivery_log=timedelta(days=settings.delivery_log_days),
            idempotency_keys=timedelta(seconds=settings.idempotency_key_ttl_s),
            event_log=timedelta(seconds=settings.event_retention_s),
            open311_contact=timedelta(days=settings.open311_contact_days),
        )


@dataclass
class Purged:
    """What one purge did, per rule."""

    exact_locations: int = 0  # reports whose exact point became their snapped point
    deliveries: int = 0
    alert_receipts: int = 0
    refresh_tokens: int = 0
    idempotency_keys: int = 0
    invitations: int = 0
    event_log: int = 0
    open311_contacts: int = 0  # reports whose Open311 contact details were deleted
    webhook_deliveries: int = 0  # with their attempts
    webhook_messages: int = 0
    webhook_subscriptions: int = 0

    def lines(self, policy: Policy) -> list[str]:
        """One line per rule, `name: count (what)`, for operators and their scripts."""
        what = {
            "exact_locations": f"report points older than {_span(policy.exact_location)} "
            "replaced by their snapped point",
            "deliveries": f"finished push deliveries older than {_span(policy.delivery_log)} "
            "deleted",
            "alert_receipts": f"alert receipts (the `why` of an alert) older than "
            f"{_span(policy.delivery_log)} deleted",
            "refresh_tokens": "expired refresh tokens deleted",
            "idempotency_keys": "idempotency keys older than "
            f"{_span(policy.idempotency_keys)} deleted",
            "invitations": "expired or used-up invitations deleted",
            "event_log": f"event log rows older than {_span(policy.event_log)} deleted, "
            "each user's newest kept",
            "open311_contacts": "contact details sent with Open311 reports older than "
            f"{_span(policy.open311_contact)} deleted",
            "webhook_deliveries": "finished webhook deliveries (and their attempts) older "
            f"than {_span(policy.delivery_log)} deleted",
            "webhook_messages": f"webhook bodies older than {_span(policy.delivery_log)} that "
            "no delivery is left to send deleted",
            "webhook_subscriptions": "webhook subscriptions of API clients revoked more than "
            f"{_span(policy.delivery_log)} ago deleted",
        }
        return [f"{name}: {count} ({what[name]})" for name, count in self.counts().items()]

    def counts(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def _span(period: timedelta) -> str:
    seconds = int(period.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3_600)):
        if seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return f"{seconds} s"


async def purge(
    sessionmaker: async_sessionmaker[AsyncSession],
    policy: Policy,
    now: datetime | None = None,
    stop: asyncio.Event | None = None,
) -> Purged:
    """Apply every rule as of `now` (default: the clock). `stop` ends it between batches."""
    now = now or utcnow()
    purged = Purged()
    # Off the event loop's thread on SQLite: the scans for candidates can be long.
    with offloaded():
        purged.exact_locations = await coarsen_exact_locations(
            sessionmaker, now - policy.exact_location, now, stop
        )
        purged.deliveries = await _delete_batches(
            sessionmaker,
            _DELIVERIES,
            [_DELIVERIES.c.id],
            _old_deliveries(now - policy.delivery_log),
            stop,
        )
        purged.alert_receipts = await _delete_batches(
            sessionmaker,
            _RECEIPTS,
            [_RECEIPTS.c.id],
            _RECEIPTS.c.created_at < now - policy.delivery_log,
            stop,
        )
        purged.refresh_tokens = await _delete_batches(
            sessionmaker,
            _REFRESH_TOKENS,
            [_REFRESH_TOKENS.c.id],
            _REFRESH_TOKENS.c.expires_at <= now,  # refused from that instant (auth.service)
            stop,
        )
        purged.idempotency_keys = await _delete_batches(
            sessionmaker,
            _IDEMPOTENCY,
            [_IDEMPOTENCY.c.owner_id, _IDEMPOTENCY.c.scope, _IDEMPOTENCY.c.key],
            _IDEMPOTENCY.c.created_at < now - policy.idempotency_keys,
            stop,
        )
        purged.open311_contacts = await _delete_batches(
            sessionmaker,
            _CONTACTS,
            [_CONTACTS.c.incident_id],
            _CONTACTS.c.created_at < now - policy.open311_contact,
            stop,
        )
        purged.invitations = await _delete_batches(
            sessionmaker, _INVITATIONS, [_INVITATIONS.c.id], _spent_invitations(now), stop
        )
        before = now - policy.delivery_log
        purged.webhook_deliveries = await _delete_batches(
            sessionmaker,
            _WEBHOOK_DELIVERIES,
            [_WEBHOOK_DELIVERIES.c.id],
            _old_webhook_deliveries(before),
            stop,
        )
        purged.webhook_messages = await _delete_batches(
            sessionmaker,
            _WEBHOOK_MESSAGES,
            [_WEBHOOK_MESSAGES.c.id],
            and_(
                _WEBHOOK_MESSAGES.c.created_at < before,
                ~exists().where(_WEBHOOK_DELIVERIES.c.message_id == _WEBHOOK_MESSAGES.c.id),
            ),
            stop,
        )
        purged.webhook_subscriptions = await _delete_batches(
            sessionmaker,
            _WEBHOOK_SUBSCRIPTIONS,
            [_WEBHOOK_SUBSCRIPTIONS.c.id],
            _WEBHOOK_SUBSCRIPTIONS.c.client_id.in_(
                select(_CLIENTS.c.id).where(_CLIENTS.c.revoked_at < before)
            ),
            stop,
        )
        if not _stopped(stop):
            async with sessionmaker() as session, session.begin():
                purged.event_log = await event_log.prune(session, now - policy.event_log)
    log.info("purged", extra=purged.counts())
    return purged


def _still_exact() -> ColumnElement[bool]:
    c = _INCIDENTS.c
    return or_(c.lon != c.snapped_lon, c.lat != c.snapped_lat, c.accuracy_m.is_not(None))


async def coarsen_exact_locations(
    sessionmaker: async_sessionmaker[AsyncSession],
    before: datetime,
    now: datetime,
    stop: asyncio.Event | None = None,
) -> int:
    """Replace the exact point (and accuracy) of every report made before `before` by
    its snapped point, in the table and in the geo index, where it was also kept.

    Coarsened, a report reads the same to everyone: moderators, officers and its
    reporter see the snapped point (`location_exact: false`), and whoever moderates it
    is judged on that point from then on. Nothing else holds the exact point: events,
    pushes and outbox rows carry ids and the snapped reading, and the idempotency keys
    whose stored answer shows it are gone before this (settings: their TTL is shorter).
    """
    c = _INCIDENTS.c
    total = 0
    after: tuple[datetime, Any] | None = None
    while not _stopped(stop):
        # Candidates read without the write lock, in (reported_at, id) order from where
        # the last batch ended: reports coarsened before are passed over once per purge,
        # not once per batch. (No index holds "still exact"; the scan is of old reports.)
        async with reading(sessionmaker) as session:
            candidates = select(c.reported_at, c.id).where(c.reported_at < before, _still_exact())
            if after is not None:
                candidates = candidates.where(
                    or_(
                        c.reported_at > after[0],
                        and_(c.reported_at == after[0], c.id > after[1]),
                    )
                )
            rows = (
                await session.execute(candidates.order_by(c.reported_at, c.id).limit(COARSEN_BATCH))
            ).all()
        if not rows:
            break
        after = (rows[-1][0], rows[-1][1])
        async with sessionmaker() as session, session.begin():
            # Checked again under the lock: another purger may have coarsened some since.
            mine = (
                select(c.id)
                .where(c.id.in_([row[1] for row in rows]), _still_exact())
                .with_for_update(skip_locked=True)
            )
            ids = (await session.execute(mine)).scalars().all()
            total += await incidents_service.forget_exact_points(session, ids, now)
        if len(rows) < COARSEN_BATCH:
            break
    return total


def _old_deliveries(before: datetime) -> ColumnElement[bool]:
    """Finished deliveries created and last tried before `before`.

    A pending one is never deleted, however old: it may be in a sender's hands under a
    lease, and the dispatcher finishes every pending row (sent, failed, or given up
    after NW_PUSH_MAX_ATTEMPTS). `next_attempt_at` (never before `created_at`; later
    only for a retried push, by at most a few hours) lets the (state, next_attempt_at)
    index find them.
    """
    c = _DELIVERIES.c
    return and_(c.state.in_(("sent", "failed")), c.next_attempt_at < before, c.created_at < before)


def _old_webhook_deliveries(before: datetime) -> ColumnElement[bool]:
    """Finished webhook deliveries made and last tried before `before` (a pending one is
    the channel's, as a pending push is the dispatcher's). Their attempts go with them
    (ON DELETE CASCADE)."""
    c = _WEBHOOK_DELIVERIES.c
    return and_(c.state.in_(("sent", "failed")), c.next_attempt_at < before, c.created_at < before)


def _spent_invitations(now: datetime) -> ColumnElement[bool]:
    """Invitations no one can accept any more (the conditions `accept_invitation` refuses).
    Once deleted, such a code answers 404 like an unknown one, where it answered 410."""
    c = _INVITATIONS.c
    return or_(c.expires_at <= now, and_(c.max_uses.is_not(None), c.uses >= c.max_uses))


async def _delete_batches(
    sessionmaker: async_sessionmaker[AsyncSession],
    table: Table,
    key: Sequence[Any],
    condition: ColumnElement[bool],
    stop: asyncio.Event | None,
) -> int:
    """Delete the rows matching `condition`, BATCH at a time; how many went."""
    total = 0
    target = key[0] if len(key) == 1 else tuple_(*key)
    while not _stopped(stop):
        chosen = select(*key).where(condition).limit(BATCH).with_for_update(skip_locked=True)
        async with sessionmaker() as session, session.begin():
            result = await session.execute(delete(table).where(target.in_(chosen)))
        done = int(getattr(result, "rowcount", 0) or 0)
        total += done
        if done < BATCH:
            break
    return total


def _stopped(stop: asyncio.Event | None) -> bool:
    return stop is not None and stop.is_set()


Pause = Callable[[asyncio.Event, float], Awaitable[None]]


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or until `stop` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def daily(
    run: Callable[[], Awaitable[object]], stop: asyncio.Event, wait: Pause = pause
) -> None:
    """`run` at once, then a day after each run ends, until `stop` is set: a process
    that restarts purges on starting, so a deployment that restarts more often than
    daily still purges. A failed run is logged and tried again after PURGE_RETRY_S."""
    while not stop.is_set():
        try:
            await run()
            interval = PURGE_EVERY_S
        except Exception:  # the database away: retention must not stop the dispatcher
            log.exception("purge failed")
            interval = PURGE_RETRY_S
        await wait(stop, interval)
