"""Webhook subscriptions: an API client's own, checked against SSRF when made and changed.

A client sees and touches only its own subscriptions; another's is 404, as an unknown
one is. The URL is judged when it is given (by its form, and by every address its host
resolves to, so that a name pointing at loopback or a metadata address is refused at
once) and again at every delivery (app.webhooks.channel), where DNS may answer otherwise.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.models import ApiClient
from app.db import utcnow
from app.outbound.guard import Policy, Refused, check_addresses, check_url
from app.outbox import wake_on_commit
from app.pagination import Page, newest_first, page_of
from app.problems import conflict, invalid, not_found
from app.webhooks import signing
from app.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookMessage,
    WebhookSubscription,
)
from app.webhooks.schemas import (
    PING,
    AttemptRead,
    DeliveryRead,
    WebhookCreate,
    WebhookRead,
    WebhookRotate,
    WebhookUpdate,
    WebhookWithSecret,
)

RESOLVE_TIMEOUT_S = 5.0
# The attempts a delivery lists, newest last: a whole retry series and then some.
ATTEMPTS_SHOWN = 20


_generation = 0


def generation() -> int:
    """Bumped whenever this process changes a subscription, so that the fan-out in the
    same process (the embedded shape) reads them again at once."""
    return _generation


def changed() -> None:
    global _generation
    _generation += 1


def webhook_id(delivery_id: uuid.UUID) -> str:
    return f"msg_{delivery_id.hex}"


async def check_target(url: str, policy: Policy) -> None:
    """Refuse (422 on `url`) a URL the channel would refuse to call: by its form, by an
    address written in it, or by any address its host resolves to now."""
    try:
        target = check_url(url, policy)
        if target.exempt:
            return
        try:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(
                    target.host, target.port, type=socket.SOCK_STREAM
                ),
                RESOLVE_TIMEOUT_S,
            )
        except (OSError, TimeoutError) as exc:
            raise Refused(f"{target.host} does not resolve") from exc
        check_addresses(target.host, target.port, (str(info[4][0]) for info in infos), policy)
    except Refused as exc:
        raise invalid("url", exc.reason, code="refused_url") from exc


def to_read(sub: WebhookSubscription) -> WebhookRead:
    return WebhookRead(
        id=sub.id,
        url=sub.url,
        events=sub.events,
        description=sub.description,
        enabled=sub.enabled,
        disabled_at=sub.disabled_at,
        disabled_reason=sub.disabled_reason,
        failing_since=sub.failing_since,
        created_at=sub.created_at,
        rotated_at=sub.rotated_at,
        previous_secret_expires_at=sub.previous_secret_expires_at,
    )


def _with_secret(sub: WebhookSubscription) -> WebhookWithSecret:
    return WebhookWithSecret(**to_read(sub).model_dump(), secret=sub.secret)


async def create_subscription(
    session: AsyncSession, client: ApiClient, data: WebhookCreate, policy: Policy, most: int
) -> WebhookWithSecret:
    held = await session.scalar(
        select(func.count())
        .select_from(WebhookSubscription)
        .where(col(WebhookSubscription.client_id) == client.id)
    )
    if (held or 0) >= most:
        raise conflict(
            f"A client may hold at most {most} webhook subscriptions: delete one first.",
            kind="too-many-webhooks",
        )
    await check_target(data.url, policy)
    sub = WebhookSubscription(
        client_id=client.id,
        url=data.url,
        events=[e.value for e in data.events],
        description=data.description,
        secret=signing.new_secret(),
    )
    session.add(sub)
    await session.flush()
    changed()
    return _with_secret(sub)


async def list_subscriptions(
    session: AsyncSession, client: ApiClient, limit: int, cursor: str | None
) -> Page[WebhookRead]:
    stmt = select(WebhookSubscription).where(col(WebhookSubscription.client_id) == client.id)
    rows = (
        (
            await session.execute(
                newest_first(
                    stmt,
                    col(WebhookSubscription.created_at),
                    col(WebhookSubscription.id),
                    cursor,
                    limit,
                )
            )
        )
        .scalars()
        .all()
    )
    return page_of(rows, limit, lambda s: (s.created_at, s.id), to_read)


async def load_subscription(
    session: AsyncSession, client: ApiClient, subscription_id: uuid.UUID
) -> WebhookSubscription:
    sub = await session.get(WebhookSubscription, subscription_id)
    if sub is None or sub.client_id != client.id:
        raise not_found("webhook subscription")
    return sub


async def update_subscription(
    session: AsyncSession, sub: WebhookSubscription, data: WebhookUpdate, policy: Policy
) -> WebhookRead:
    now = utcnow()
    changes = data.model_fields_set
    if data.url is not None:
        await check_target(data.url, policy)
        sub.url = data.url
    if data.events is not None:
        sub.events = [e.value for e in data.events]
    if "description" in changes:
        sub.description = data.description
    if data.enabled is True and not sub.enabled:
        if data.url is None:
            await check_target(sub.url, policy)
        sub.enabled, sub.disabled_at, sub.disabled_reason = True, None, None
        sub.failing_since = None
    elif data.enabled is False and sub.enabled:
        await disable(session, sub, "Paused by the client.", now)
    sub.updated_at = now
    await session.flush()
    changed()
    return to_read(sub)


async def disable(
    session: AsyncSession, sub: WebhookSubscription, reason: str, now: datetime
) -> None:
    """No more deliveries: those pending are failed with the reason."""
    sub.enabled, sub.disabled_at, sub.disabled_reason = False, now, reason
    changed()
    await session.execute(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.subscription_id) == sub.id,
            col(WebhookDelivery.state) == "pending",
        )
        .values(state="failed", last_error=reason, lease_until=None, finished_at=now)
        .execution_options(synchronize_session=False)
    )


async def delete_subscription(session: AsyncSession, sub: WebhookSubscription) -> None:
    await session.delete(sub)
    await session.flush()
    changed()


async def rotate_secret(
    session: AsyncSession, sub: WebhookSubscription, data: WebhookRotate
) -> WebhookWithSecret:
    now = utcnow()
    # Only the secret in use now gets a grace period: rotating twice ends the older one.
    if data.grace_period_s > 0:
        sub.previous_secret = sub.secret
        sub.previous_secret_expires_at = now + timedelta(seconds=data.grace_period_s)
    else:
        sub.previous_secret, sub.previous_secret_expires_at = None, None
    sub.secret = signing.new_secret()
    sub.rotated_at = sub.updated_at = now
    await session.flush()
    return _with_secret(sub)


async def send_ping(session: AsyncSession, sub: WebhookSubscription) -> DeliveryRead:
    if not sub.enabled:
        raise conflict("The subscription is disabled: enable it first.", kind="webhook-disabled")
    now = utcnow()
    message = WebhookMessage(
        id=uuid.uuid4(),
        event_type=PING,
        body=json.dumps(
            {"type": PING, "timestamp": _instant(now), "data": {"subscription_id": str(sub.id)}},
            separators=(",", ":"),
        ),
        created_at=now,
    )
    session.add(message)
    await session.flush()
    delivery = WebhookDelivery(
        subscription_id=sub.id, message_id=message.id, event_type=PING, next_attempt_at=now
    )
    session.add(delivery)
    await session.flush()
    await wake_on_commit(session)
    return delivery_read(delivery, [])


async def redeliver(
    session: AsyncSession, sub: WebhookSubscription, delivery_id: uuid.UUID
) -> DeliveryRead:
    delivery = await session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.subscription_id != sub.id:
        raise not_found("delivery")
    if not sub.enabled:
        raise conflict("The subscription is disabled: enable it first.", kind="webhook-disabled")
    # A new series of attempts, with the same webhook-id: the receiver may drop it as a
    # duplicate if it got the first.
    now = utcnow()
    delivery.state, delivery.attempts, delivery.next_attempt_at = "pending", 0, now
    delivery.lease_until, delivery.finished_at = None, None
    await session.flush()
    await wake_on_commit(session)
    return delivery_read(delivery, await _attempts(session, [delivery.id]))


async def list_deliveries(
    session: AsyncSession, sub: WebhookSubscription, limit: int, cursor: str | None
) -> Page[DeliveryRead]:
    stmt = select(WebhookDelivery).where(col(WebhookDelivery.subscription_id) == sub.id)
    rows = (
        (
            await session.execute(
                newest_first(
                    stmt, col(WebhookDelivery.created_at), col(WebhookDelivery.id), cursor, limit
                )
            )
        )
        .scalars()
        .all()
    )
    attempts = await _attempts(session, [d.id for d in rows[:limit]])
    return page_of(
        rows, limit, lambda d: (d.created_at, d.id), lambda d: delivery_read(d, attempts)
    )


async def _attempts(
    session: AsyncSession, ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[AttemptRead]]:
    out: dict[uuid.UUID, list[AttemptRead]] = {}
    if not ids:
        return out
    rows = await session.execute(
        select(WebhookAttempt)
        .where(col(WebhookAttempt.delivery_id).in_(ids))
        .order_by(col(WebhookAttempt.attempted_at), col(WebhookAttempt.id))
    )
    for attempt in rows.scalars():
        out.setdefault(attempt.delivery_id, []).append(
            AttemptRead(
                attempted_at=attempt.attempted_at,
                status=attempt.status,
                latency_ms=attempt.latency_ms,
                error=attempt.error,
            )
        )
    return {key: value[-ATTEMPTS_SHOWN:] for key, value in out.items()}


def delivery_read(
    delivery: WebhookDelivery, attempts: dict[uuid.UUID, list[AttemptRead]] | list[AttemptRead]
) -> DeliveryRead:
    shown = attempts if isinstance(attempts, list) else attempts.get(delivery.id, [])
    return DeliveryRead(
        id=delivery.id,
        webhook_id=webhook_id(delivery.id),
        event_type=delivery.event_type,
        state=delivery.state,
        attempts=shown,
        next_attempt_at=delivery.next_attempt_at if delivery.state == "pending" else None,
        last_status=delivery.last_status,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        finished_at=delivery.finished_at,
    )


def _instant(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")
