"""What an FCM HTTP v1 error answer means for a delivery; both FCM senders classify here.

firebase-admin picks the exception it raises for an answer from three things, in this
order (firebase_admin/messaging.py `_build_fcm_error`, `_utils.py`): the `errorCode` of
the `FcmError` detail when it is one of its FCM-specific codes, else the error's
canonical `status`, else the HTTP status. Reading those off the answer therefore gives
the SDK's exception class without the SDK, and the reference sender (app.push.fcm) and
our own (app.push.fcm_http) share the rules below.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.push.senders import Outcome, PushMessage, SendResult, Sent

log = logging.getLogger("app.push")

FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
DEFAULT_QUOTA_WAIT_S = 60.0
# The errorCodes firebase-admin raises a specific exception for (FCM_ERROR_TYPES); any
# other (INVALID_ARGUMENT, UNAVAILABLE, INTERNAL) falls through to the canonical status.
_FCM_SPECIFIC = {
    "APNS_AUTH_ERROR",
    "QUOTA_EXCEEDED",
    "SENDER_ID_MISMATCH",
    "THIRD_PARTY_AUTH_ERROR",
    "UNREGISTERED",
}
_STATUS_OF_HTTP = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "CONFLICT",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass(frozen=True)
class FcmFailure:
    http_status: int
    code: str  # an FCM-specific errorCode, else the canonical status, as the SDK reads it
    message: str
    details: tuple[dict[str, Any], ...]
    retry_after_s: float | None

    @classmethod
    def parse(cls, http_status: int, body: bytes, retry_after: str | None) -> FcmFailure:
        error: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            parsed = json.loads(body)
            if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
                error = parsed["error"]
        raw = error.get("details")
        details = tuple(d for d in raw if isinstance(d, dict)) if isinstance(raw, list) else ()
        fcm_code = next((d.get("errorCode") for d in details if d.get("@type") == FCM_ERROR), None)
        if fcm_code in _FCM_SPECIFIC:
            code = str(fcm_code)
        else:
            code = str(error.get("status") or _STATUS_OF_HTTP.get(http_status, "UNKNOWN"))
        message = error.get("message") or (
            f"Unexpected HTTP response with status: {http_status}; "
            f"body: {body.decode(errors='replace')}"
        )
        return cls(http_status, code, str(message), details, _seconds_until(retry_after))

    def token_is_invalid(self) -> bool:
        """FCM answers a malformed token with INVALID_ARGUMENT and a field violation on
        `message.token`; a bad payload names another field."""
        for detail in self.details:
            if detail.get("@type") == BAD_REQUEST:
                violations = detail.get("fieldViolations")
                fields = {v.get("field") for v in violations or [] if isinstance(v, dict)}
                if fields:
                    return fields == {"message.token"}
        return "registration token" in self.message.lower()

    def describe(self) -> str:
        return f"{self.code}: {self.message}; details: {list(self.details)}"[:2000]


class Throttle:
    """FCM's quota answer is the sender's, not one message's: every send waits it out."""

    def __init__(self) -> None:
        self._until = 0.0  # monotonic

    def remaining_s(self) -> float:
        return self._until - time.monotonic()

    def hold(self, wait_s: float) -> None:
        self._until = max(self._until, time.monotonic() + wait_s)

    def refused(self) -> SendResult | None:
        """The answer for a send that must not go out yet, or None."""
        blocked = self.remaining_s()
        if blocked > 0:
            return SendResult(Outcome.retry, "QUOTA_EXCEEDED", retry_after_s=blocked, throttle=True)
        return None


def classify(failure: FcmFailure, throttle: Throttle, *, attempts_on_5xx: int = 1) -> SendResult:
    """`attempts_on_5xx`: HTTP requests behind a 500/503 answer (the SDK retries those)."""
    code = failure.code
    if code in ("UNREGISTERED", "SENDER_ID_MISMATCH"):
        return SendResult(Outcome.invalid_token, code)
    if code == "INVALID_ARGUMENT":
        if failure.token_is_invalid():
            return SendResult(Outcome.invalid_token, "invalid registration token")
        # The token is fine and the message is not: our bug; retrying cannot help.
        log.error("FCM refused a message as invalid", extra={"error": failure.describe()})
        return SendResult(Outcome.failed, f"INVALID_ARGUMENT: {failure.message}"[:500])
    if code == "QUOTA_EXCEEDED" or failure.http_status == 429:
        wait = failure.retry_after_s or DEFAULT_QUOTA_WAIT_S
        throttle.hold(wait)
        return SendResult(Outcome.retry, "QUOTA_EXCEEDED", retry_after_s=wait, throttle=True)
    if code in ("THIRD_PARTY_AUTH_ERROR", "APNS_AUTH_ERROR"):
        log.error(
            "operator: FCM could not authenticate with APNs or web push "
            "(THIRD_PARTY_AUTH_ERROR); check the app's APNs key in the Firebase console"
        )
        return SendResult(Outcome.retry, code)
    if code in ("UNAVAILABLE", "INTERNAL"):
        attempts = attempts_on_5xx if failure.http_status in (500, 503) else 1
        return SendResult(
            Outcome.retry, code, retry_after_s=failure.retry_after_s, attempts=attempts
        )
    if code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        log.error("operator: FCM refused our credentials", extra={"error": failure.describe()})
    return SendResult(Outcome.retry, f"{code}: {failure.message}"[:500])


def without_token(messages: list[PushMessage], exc: Exception) -> list[Sent]:
    """A batch that cannot go out: no access token. Kept for later, and told."""
    log.error(
        "operator: cannot get an FCM access token with NW_FIREBASE_CREDENTIALS",
        extra={"error": f"{exc.__class__.__name__}: {exc}"},
    )
    return [(m, SendResult(Outcome.retry, "OAuth2 token refresh failed")) for m in messages]


def _seconds_until(retry_after: str | None) -> float | None:
    """Retry-After is delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not retry_after:
        return None
    if retry_after.strip().isdigit():
        return float(retry_after)
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(retry_after)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return None
