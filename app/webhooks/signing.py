"""Webhook signatures as the Standard Webhooks specification defines them.

Each delivery carries `webhook-id` (the same on every retry of one event to one
subscription, so receivers can drop duplicates), `webhook-timestamp` (Unix seconds; the
published verifiers refuse one more than five minutes away) and `webhook-signature`:
`v1,` and the base64 HMAC-SHA256, keyed with the secret's bytes, of
`{id}.{timestamp}.{body}`. During a secret rotation both secrets sign, space-separated,
so a receiver holding either verifies. Secrets are `whsec_` and base64 of 32 random
bytes, the form the published libraries take.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix, not a secret)
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a `whsec_…` secret stands for."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret is whsec_ and base64") from exc
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = message_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(
    keys: Sequence[bytes], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three headers of one delivery attempt, signed with every key given (the
    current secret first, the previous one while a rotation's grace period lasts)."""
    if not keys:
        raise ValueError("at least one key signs a webhook")
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(k, message_id, timestamp, body) for k in keys),
    }
