"""Outbox events → webhook messages and deliveries (called by the push dispatcher).

The dispatcher hands over each batch of outbox events it claims (app.outbox.channels)
before expanding their pushes, so webhook rows are written from the one event path, once
per event and subscription (a unique key: handing an event over again writes nothing
twice), and the first webhook leaves before a large alert's pushes are all written.

What a subscriber is sent is what its client would read through the API:
- alerts: those `client_may_read` allows (public alerts touching its jurisdiction, or
  everywhere without one; its group's), as `GET /v1/alerts/{id}` answers a client;
- reports: those whose *snapped* point lies in its jurisdiction (everywhere without one)
  or in its group's area, as a member reads them: the snapped point, and no reporter at
  all (not even the display name a member sees of a named reporter). Agency clients get
  this view too: a client is a third party's machine, and the exact point and the
  reporter of an anonymous report are kept to officers themselves (the conservative
  reading of issue 17, until an agency client's view is specified).
Bodies are rendered once per event (`WebhookMessage`), the same bytes for every
subscription, and signed per subscription at each attempt.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.alerts import service as alerts_service
from app.alerts.client_reads import client_may_read
from app.alerts.models import Alert
from app.auth.models import ApiClient
from app.db import URGENT_OPTION, insert_for, reading, utcnow
from app.geo.shapes import Circle, from_geojson, intersects
from app.incidents import service as incidents_service
from app.incidents.models import Incident
from app.outbox.models import OutboxEvent
from app.webhooks import service
from app.webhooks.models import WebhookDelivery, WebhookMessage, WebhookSubscription
from app.webhooks.schemas import EventType

log = logging.getLogger("app.webhooks")

# Written by app.auth.clients when a client is revoked: its subscriptions are disabled.
CLIENT_REVOKED = "client.revoked"
REVOKED_REASON = "The API client was revoked."
_TYPES = {e.value for e in EventType}
_MESSAGES = WebhookMessage.__table__
_DELIVERIES = WebhookDelivery.__table__
# The subscriptions are read at most this often (and again at once when this process
# changed one): most outbox events are reports, and a deployment with no subscription
# for them should not pay a database session per batch of events to learn it again.
SUBSCRIBERS_TTL_S = 1.0


class _Subscriber:
    __slots__ = ("client", "events", "id")

    def __init__(self, sub_id: uuid.UUID, events: list[str], client: ApiClient) -> None:
        self.id = sub_id
        self.events = set(events)
        self.client = client


class WebhookFanout:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        hand_over: Callable[[list[uuid.UUID]], None],
        lease: timedelta,
    ) -> None:
        self.sessionmaker = sessionmaker
        # The rows are written already leased to this process's channel and handed to it,
        # so that the first webhook leaves without a claim's transaction first; if the
        # process dies, the lease runs out and any worker claims them.
        self.hand_over = hand_over
        self.lease = lease
        self._cached: list[_Subscriber] = []
        self._cached_at = -SUBSCRIBERS_TTL_S
        self._generation = -1

    async def subscribers(self) -> list[_Subscriber]:
        """Every enabled subscription, with its client: as of at
        most SUBSCRIBERS_TTL_S ago (in another process: a subscription made there hears
        of events from a second after it was made at the latest)."""
        fresh = time.monotonic() - self._cached_at < SUBSCRIBERS_TTL_S
        if fresh and self._generation == service.generation():
            return self._cached
        generation = service.generation()
        async with reading(self.sessionmaker) as session:
            self._cached = await _subscribers(session)
        self._cached_at, self._generation = time.monotonic(), generation
        return self._cached

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session, session.begin():
            await session.connection(execution_options={URGENT_OPTION: True})
            yield session

    async def fan_out(self, event_ids: Sequence[uuid.UUID]) -> None:
        messages: list[dict[str, Any]] = []
        deliveries: list[dict[str, Any]] = []
        revoked: list[uuid.UUID] = []
        subscribers = await self.subscribers()
        if not subscribers:  # nobody to send to, and no enabled subscription to disable
            return
        now = utcnow()
        async with reading(self.sessionmaker) as session:
            rows = await session.execute(
                select(OutboxEvent).where(col(OutboxEvent.id).in_(list(event_ids)))
            )
            events = [e for e in rows.scalars() if e.event_type in _TYPES | {CLIENT_REVOKED}]
            if not events:
                return
            revoked = [
                uuid.UUID(e.payload["client_id"]) for e in events if e.event_type == CLIENT_REVOKED
            ]
            wanted = [e for e in events if e.event_type in _TYPES]
            for event in wanted:
                hearing = [
                    s
                    for s in subscribers
                    if event.event_type in s.events and s.client.revoked_at is None
                ]
                if not hearing:
                    continue
                rendered = await _render(session, event, hearing)
                if rendered is None:
                    continue
                body, readers = rendered
                if not readers:
                    continue
                messages.append(
                    {
                        "id": event.id,
                        "event_type": event.event_type,
                        "body": body,
                        "created_at": now,
                    }
                )
                deliveries += [
                    {
                        "id": uuid.uuid4(),
                        "subscription_id": sub_id,
                        "message_id": event.id,
                        "event_type": event.event_type,
                        "state": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "lease_until": now + self.lease,
                        "created_at": now,
                    }
                    for sub_id in readers
                ]
        if not (messages or revoked):
            return
        async with self._writing() as session:
            for client_id in revoked:
                await disable_client(session, client_id, now)
            if messages:
                await session.execute(
                    insert_for(session, _MESSAGES).on_conflict_do_nothing(index_elements=["id"]),
                    messages,
                )
                await session.execute(
                    insert_for(session, _DELIVERIES).on_conflict_do_nothing(
                        index_elements=["subscription_id", "message_id"]
                    ),
                    deliveries,
                )
        if deliveries:
            # Rows that existed already (an event handed over again) were not written:
            # their ids find nothing, and the rows are claimed as usual.
            self.hand_over([d["id"] for d in deliveries])


async def disable_client(session: AsyncSession, client_id: uuid.UUID, now: datetime) -> None:
    subs = await session.execute(
        select(WebhookSubscription).where(
            col(WebhookSubscription.client_id) == client_id,
            col(WebhookSubscription.enabled).is_(True),
        )
    )
    for sub in subs.scalars():
        await service.disable(session, sub, REVOKED_REASON, now)
    await session.flush()


async def _subscribers(session: AsyncSession) -> list[_Subscriber]:
    """Every enabled subscription, with its client (revoked ones too: until the
    revocation comes through, their subscriptions are enabled, and are to be disabled)."""
    rows = await session.execute(
        select(col(WebhookSubscription.id), col(WebhookSubscription.events), ApiClient)
        .join(ApiClient, col(ApiClient.id) == col(WebhookSubscription.client_id))
        .where(col(WebhookSubscription.enabled).is_(True))
    )
    return [_Subscriber(sub_id, events, client) for sub_id, events, client in rows.all()]


async def _render(
    session: AsyncSession, event: OutboxEvent, hearing: list[_Subscriber]
) -> tuple[str, list[uuid.UUID]] | None:
    """The body of the event and the subscriptions whose client may read it; None when
    what it is about is gone."""
    kind = event.event_type
    may: Callable[[ApiClient], bool]
    if kind.startswith("alert."):
        alert = await session.get(Alert, uuid.UUID(event.payload["alert_id"]))
        if alert is None:
            return None
        data = alerts_service.to_read(alert).model_dump(mode="json")

        def may(client: ApiClient) -> bool:
            return client_may_read(client, alert)

    else:
        incident = await session.get(Incident, uuid.UUID(event.payload["incident_id"]))
        if incident is None:
            return None
        reading_ = await incidents_service.incident_read(session, incident, None)
        data = reading_.model_copy(update={"reporter": None}).model_dump(mode="json")
        point = Circle(incident.snapped_lon, incident.snapped_lat)
        showing: set[uuid.UUID] = set()
        if any(s.client.group_id for s in hearing):
            showing = set(await incidents_service.groups_showing(session, incident))

        def may(client: ApiClient) -> bool:
            if client.group_id is not None and client.group_id in showing:
                return True
            if client.jurisdiction is None:
                return True
            return intersects(from_geojson(client.jurisdiction), point)

    verdicts: dict[uuid.UUID, bool] = {}
    readers = []
    for sub in hearing:
        client_id = sub.client.id
        if client_id not in verdicts:
            verdicts[client_id] = may(sub.client)
        if verdicts[client_id]:
            readers.append(sub.id)
    body = json.dumps(
        {"type": kind, "timestamp": _instant(event.created_at), "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return body, readers


def _instant(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")
