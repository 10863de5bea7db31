from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from app.auth.client_deps import ClientCaller, require_scope
from app.auth.scopes import Scope
from app.db import SessionDep
from app.outbound.guard import Policy
from app.webhooks import service
from app.webhooks.models import WebhookSubscription

# Defined once, so that a route naming it twice (directly and through SubscriptionFromPath)
# runs it once: one rate-limit count per request.
WebhookClient = Annotated[ClientCaller, require_scope(Scope.webhooks)]


async def get_subscription_from_path(
    subscription_id: uuid.UUID, caller: WebhookClient, session: SessionDep
) -> WebhookSubscription:
    """The caller's own subscription; another client's is 404, as an unknown one is."""
    return await service.load_subscription(session, caller.client, subscription_id)


SubscriptionFromPath = Annotated[WebhookSubscription, Depends(get_subscription_from_path)]


def outbound_policy(request: Request) -> Policy:
    return Policy.of(request.app.state.settings)


PolicyDep = Annotated[Policy, Depends(outbound_policy)]
