"""`/v1/webhooks`: an API client's subscriptions (scope `webhooks`), its deliveries, pings."""

from __future__ import annotations

import uuid

from fastapi import Request, status

from app.auth.service import AuthContext
from app.db import SessionDep
from app.pagination import CursorParam, LimitParam, Page
from app.ratelimit import HOUR, Rate
from app.routing import make_router, problem_responses
from app.webhooks import service
from app.webhooks.deps import PolicyDep, SubscriptionFromPath, WebhookClient
from app.webhooks.schemas import (
    DeliveryRead,
    WebhookCreate,
    WebhookRead,
    WebhookRotate,
    WebhookUpdate,
    WebhookWithSecret,
)

router = make_router(
    prefix="/v1/webhooks", tags=["webhooks"], responses=problem_responses(401, 403, 429)
)


async def _take(request: Request, what: str, amount: int, key: str) -> None:
    ctx: AuthContext = request.app.state.auth
    await ctx.limiter.take(
        Rate(amount, HOUR), key, f"At most {amount} {what} an hour per API client."
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookWithSecret,
    responses=problem_responses(409),
)
async def create_webhook(
    data: WebhookCreate,
    caller: WebhookClient,
    session: SessionDep,
    request: Request,
    policy: PolicyDep,
) -> WebhookWithSecret:
    """Subscribe `url` to `events`. The answer carries the signing `secret`, this once.

    Every delivery is a POST of `{"type", "timestamp", "data"}`, `data` being the alert
    or report as this client reads it through the API (reports: the snapped point, no
    reporter), signed as Standard Webhooks specifies (`webhook-id`, `webhook-timestamp`,
    `webhook-signature`). The URL must be `https` and its host must resolve to public
    addresses only (no loopback, private, link-local, multicast or metadata address):
    422 otherwise. At most `NW_WEBHOOKS_PER_CLIENT` (20) subscriptions per client (409)."""
    settings = request.app.state.settings
    await _take(
        request,
        "webhook subscriptions",
        settings.webhook_creations_per_client_per_hour,
        f"webhook-create:{caller.client.id}",
    )
    return await service.create_subscription(
        session, caller.client, data, policy, settings.webhooks_per_client
    )


@router.get("", response_model=Page[WebhookRead])
async def list_webhooks(
    caller: WebhookClient, session: SessionDep, limit: LimitParam = 50, cursor: CursorParam = None
) -> Page[WebhookRead]:
    """The client's subscriptions, newest first; disabled ones say why (`disabled_reason`)."""
    return await service.list_subscriptions(session, caller.client, limit, cursor)


@router.get("/{subscription_id}", response_model=WebhookRead)
async def get_webhook(sub: SubscriptionFromPath, caller: WebhookClient) -> WebhookRead:
    """One of the client's subscriptions (another client's is 404)."""
    return service.to_read(sub)


@router.patch("/{subscription_id}", response_model=WebhookRead)
async def update_webhook(
    data: WebhookUpdate,
    sub: SubscriptionFromPath,
    caller: WebhookClient,
    session: SessionDep,
    policy: PolicyDep,
) -> WebhookRead:
    """Change the URL (checked as on creation), the events or the description; `enabled:
    true` enables a disabled subscription again, `false` pauses it (pending deliveries
    are failed)."""
    return await service.update_subscription(session, sub, data, policy)


@router.delete(
    "/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404)
)
async def delete_webhook(
    sub: SubscriptionFromPath, caller: WebhookClient, session: SessionDep
) -> None:
    """Unsubscribe: the subscription and its delivery log are deleted."""
    await service.delete_subscription(session, sub)


@router.post("/{subscription_id}/rotate", response_model=WebhookWithSecret)
async def rotate_webhook_secret(
    sub: SubscriptionFromPath,
    caller: WebhookClient,
    session: SessionDep,
    data: WebhookRotate | None = None,
) -> WebhookWithSecret:
    """A new signing secret, in this answer only. The old one keeps signing beside it
    (`webhook-signature` then carries both) for `grace_period_s` (default a day)."""
    return await service.rotate_secret(session, sub, data or WebhookRotate())


@router.post(
    "/{subscription_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryRead,
    responses=problem_responses(409),
)
async def test_webhook(
    sub: SubscriptionFromPath, caller: WebhookClient, session: SessionDep, request: Request
) -> DeliveryRead:
    """Send a `webhook.ping` event now, signed and retried as any other; follow it at
    `GET …/deliveries`. 409 while the subscription is disabled."""
    await _take(
        request,
        "test pings and redeliveries",
        request.app.state.settings.webhook_sends_per_client_per_hour,
        f"webhook-send:{caller.client.id}",
    )
    return await service.send_ping(session, sub)


@router.get("/{subscription_id}/deliveries", response_model=Page[DeliveryRead])
async def list_webhook_deliveries(
    sub: SubscriptionFromPath,
    caller: WebhookClient,
    session: SessionDep,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[DeliveryRead]:
    """The subscription's deliveries, newest first, each with its attempts (when, the
    receiver's status, latency, error). Kept `NW_DELIVERY_LOG_DAYS` (30) days."""
    return await service.list_deliveries(session, sub, limit, cursor)


@router.post(
    "/{subscription_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryRead,
    responses=problem_responses(409),
)
async def redeliver_webhook(
    delivery_id: uuid.UUID,
    sub: SubscriptionFromPath,
    caller: WebhookClient,
    session: SessionDep,
    request: Request,
) -> DeliveryRead:
    """Send a delivery again now, with the same body and `webhook-id`, as a new series of
    attempts. 409 while the subscription is disabled."""
    await _take(
        request,
        "test pings and redeliveries",
        request.app.state.settings.webhook_sends_per_client_per_hour,
        f"webhook-send:{caller.client.id}",
    )
    return await service.redeliver(session, sub, delivery_id)
