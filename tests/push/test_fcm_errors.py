"""Each FCM error answer, as FCM documents it, means the same to both FCM senders.

The fake FCM answers one send with the scripted error; firebase-admin reads it into its
exceptions, ours reads the JSON, and both must come to the same result.
"""

from __future__ import annotations

import email.utils
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.push.fcm_errors import BAD_REQUEST, FCM_ERROR
from app.push.senders import Outcome, PushMessage, PushSender, SendResult
from tests.fakes.fcm import FakeFCM
from tests.push.conftest import make_sender


def fcm_error(
    status: int,
    canonical: str,
    message: str,
    code: str | None = None,
    fields: tuple[str, ...] = (),
) -> dict[str, Any]:
    """FCM HTTP v1's error body: google.rpc.Status with FcmError and BadRequest details."""
    details: list[dict[str, Any]] = []
    if code:
        details.append({"@type": FCM_ERROR, "errorCode": code})
    if fields:
        violations = [{"field": f, "description": "Invalid value"} for f in fields]
        details.append({"@type": BAD_REQUEST, "fieldViolations": violations})
    return {"error": {"code": status, "message": message, "status": canonical, "details": details}}


def invalid_argument(
    *fields: str, message: str = "Request contains an invalid argument."
) -> dict[str, Any]:
    """FCM's answer to a field it refuses: the token's, or our payload's."""
    return fcm_error(400, "INVALID_ARGUMENT", message, "INVALID_ARGUMENT", fields)


@dataclass(frozen=True)
class Case:
    status: int
    body: Any
    outcome: Outcome
    headers: dict[str, str] = field(default_factory=dict)
    throttle: bool = False
    wait_s: tuple[float, float] | None = None  # the retry_after_s expected, as a range
    logged: str | None = None  # a line the operator (or we) must see


def in_30_s() -> str:
    return email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)


QUOTA = fcm_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED")
CASES = {
    "unregistered": Case(
        404,
        fcm_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"),
        Outcome.invalid_token,
    ),
    "sender-id-mismatch": Case(
        403,
        fcm_error(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH"),
        Outcome.invalid_token,
    ),
    "malformed-token": Case(
        400,
        invalid_argument("message.token", message="The registration token is not valid"),
        Outcome.invalid_token,
    ),
    "token-named-only-in-the-message": Case(
        400,
        fcm_error(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM token"),
        Outcome.invalid_token,
    ),
    "bad-payload": Case(
        400,
        invalid_argument("message.android.ttl"),
        Outcome.failed,
        logged="FCM refused a message as invalid",
    ),
    "bad-payload-and-token": Case(
        400,
        invalid_argument("message.token", "message.data"),
        Outcome.failed,
        logged="FCM refused a message as invalid",
    ),
    "400-not-json": Case(400, b"<html>Bad Request</html>", Outcome.failed),
    "quota-retry-after-seconds": Case(
        429, QUOTA, Outcome.retry, {"Retry-After": "7"}, throttle=True, wait_s=(7, 7)
    ),
    "quota-retry-after-date": Case(
        429, QUOTA, Outcome.retry, {"Retry-After": "date"}, throttle=True, wait_s=(20, 31)
    ),
    "quota-no-retry-after": Case(429, QUOTA, Outcome.retry, throttle=True, wait_s=(60, 60)),
    "429-without-fcm-error": Case(
        429,
        fcm_error(429, "RESOURCE_EXHAUSTED", "Too many requests."),
        Outcome.retry,
        {"Retry-After": "2"},
        throttle=True,
        wait_s=(2, 2),
    ),
    "third-party-auth": Case(
        401,
        fcm_error(401, "UNAUTHENTICATED", "Auth error from APNS", "THIRD_PARTY_AUTH_ERROR"),
        Outcome.retry,
        logged="THIRD_PARTY_AUTH_ERROR",
    ),
    "apns-auth-legacy": Case(
        401,
        fcm_error(401, "UNAUTHENTICATED", "Auth error from APNS", "APNS_AUTH_ERROR"),
        Outcome.retry,
        logged="THIRD_PARTY_AUTH_ERROR",
    ),
    "unauthenticated": Case(
        401,
        fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."),
        Outcome.retry,
        logged="operator: FCM refused our credentials",
    ),
    "permission-denied": Case(
        403,
        fcm_error(403, "PERMISSION_DENIED", "Permission 'cloudmessaging.messages.create' denied"),
        Outcome.retry,
        logged="operator: FCM refused our credentials",
    ),
    "502-html": Case(502, b"<html>Bad Gateway</html>", Outcome.retry),
}

# firebase-admin tries these five times with ~8 s of backoff before it answers
# (test_fcm's 503s cover that); ours answers each at once, for the dispatcher to retry.
SERVER_ERRORS = {
    "unavailable-retry-after": Case(
        503,
        fcm_error(503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE"),
        Outcome.retry,
        {"Retry-After": "3"},
        wait_s=(3, 3),
    ),
    "internal": Case(
        500,
        fcm_error(500, "INTERNAL", "Internal error encountered.", "INTERNAL"),
        Outcome.retry,
    ),
}


async def answer_to(sender: PushSender, token: str) -> SendResult:
    m = PushMessage(uuid.uuid4(), token, "android", False, {"title": "t", "body": "b"})
    results = [result async for group in sender.send([m]) for _, result in group]
    assert len(results) == 1
    return results[0]


@pytest.mark.parametrize("case_name", list(CASES))
async def test_an_fcm_error_means_what_it_meant_to_firebase_admin(
    fake_fcm: FakeFCM,
    fcm_sender: PushSender,
    case_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    case = CASES[case_name]
    headers = {k: in_30_s() if v == "date" else v for k, v in case.headers.items()}
    fake_fcm.scripted = {"scripted": (case.status, case.body, headers)}
    with caplog.at_level(logging.WARNING, logger="app.push"):
        result = await answer_to(fcm_sender, "scripted")
    assert result.outcome == case.outcome, result
    assert result.throttle == case.throttle
    if case.wait_s is not None:
        assert result.retry_after_s is not None
        assert case.wait_s[0] <= result.retry_after_s <= case.wait_s[1]
    if case.logged:
        assert any(case.logged in r.getMessage() for r in caplog.records), caplog.text
    if case.throttle:  # FCM's quota holds every send of this sender, not just this one
        held = await answer_to(fcm_sender, "another-device")
        assert (held.outcome, held.throttle) == (Outcome.retry, True)
        assert "another-device" not in fake_fcm.tokens()


@pytest.mark.parametrize("case_name", list(SERVER_ERRORS))
async def test_a_server_error_is_one_attempt_retried_later(
    fake_fcm: FakeFCM, service_account: Path, case_name: str
) -> None:
    case = SERVER_ERRORS[case_name]
    fake_fcm.scripted = {"scripted": (case.status, case.body, case.headers)}
    sender = make_sender("fcm", service_account, fake_fcm.url)
    try:
        result = await answer_to(sender, "scripted")
    finally:
        await sender.close()
    assert (result.outcome, result.attempts, result.throttle) == (Outcome.retry, 1, False)
    assert fake_fcm.attempts("scripted") == 1  # no retries hidden from the dispatcher
    expected = float(case.headers["Retry-After"]) if case.headers else None
    assert result.retry_after_s == expected
