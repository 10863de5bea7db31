"""The webhook step of driver.py, copied beside it when the generated package has the
webhook operations (`nwc.api.webhooks`, from the webhooks branch)."""

from __future__ import annotations

from http import HTTPStatus

from nwc import AuthenticatedClient
from nwc.api.webhooks import create_webhook
from nwc.models.webhook_create import WebhookCreate
from nwc.models.webhook_with_secret import WebhookWithSecret

# Allowed by the live server's NW_WEBHOOK_ALLOWED_HOSTS (tests/test_generated_client.py).
RECEIVER = "http://127.0.0.1:9/hooks"


def subscribe(client: AuthenticatedClient) -> str:
    body = WebhookCreate(url=RECEIVER, events=["alert.issued"])
    answer = create_webhook.sync_detailed(client=client, body=body)
    made = answer.parsed
    if answer.status_code != HTTPStatus.CREATED or not isinstance(made, WebhookWithSecret):
        raise SystemExit(f"webhook subscription: {answer.status_code} {answer.content!r}")
    assert made.secret.startswith("whsec_")
    return str(made.id)
