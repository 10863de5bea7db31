"""Our webhook signatures verify with the Standard Webhooks reference library."""

from __future__ import annotations

import json
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.webhooks.signing import new_secret, secret_key, signed_headers

BODY = json.dumps({"type": "alert.issued", "data": {"id": "a1", "title": "Café ☕"}}).encode()


def test_a_delivery_verifies_with_the_reference_library() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    headers = signed_headers([secret_key(secret)], "msg_2a1", int(time.time()), BODY)
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_a_changed_body_id_or_timestamp_does_not_verify() -> None:
    secret = new_secret()
    now = int(time.time())
    headers = signed_headers([secret_key(secret)], "msg_1", now, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"a1", b"a2"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "msg_2"})
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-timestamp": str(now + 1)})
    with pytest.raises(WebhookVerificationError):  # another subscription's secret
        Webhook(new_secret()).verify(BODY, headers)


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = new_secret(), new_secret()
    headers = signed_headers([secret_key(new), secret_key(old)], "msg_9", int(time.time()), BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_a_stale_timestamp_is_refused_by_receivers() -> None:
    secret = new_secret()
    headers = signed_headers([secret_key(secret)], "msg_3", int(time.time()) - 600, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers)


@pytest.mark.parametrize("bad", ["", "whsec_", "secret", "whsec_not base64!"])
def test_malformed_secrets_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="webhook secret"):
        secret_key(bad)
