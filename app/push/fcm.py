"""The firebase adapter of the PushSender port: firebase-admin's messaging, async.

Read against firebase-admin 7.x: the service-level `send_each_async` defaults to
`dry_run=True`, so we call the module-level one with `dry_run=False` spelt out; its
HTTP client retries 500 and 503 four times with backoff before answering, so such a
failure is counted as five attempts; and the access token is refreshed with blocking
`requests`, so we refresh it in a thread before it runs out instead of letting the SDK
do it on the event loop.

Each message is sent on its own (`send_each_async([m])`) with bounded concurrency and
its result handed back as soon as it arrives, so the dispatcher records results while
the batch is still going and a crash repeats only the sends in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import firebase_admin
import httpx
from firebase_admin import credentials, exceptions, messaging
from google.auth.transport.requests import Request as GoogleRequest

from app.push.senders import Outcome, PushMessage, SendResult, Sent
from app.push.shaping import build_message

log = logging.getLogger("app.push")

SDK_ATTEMPTS_ON_5XX = 5  # firebase-admin's DEFAULT_HTTPX_RETRY_CONFIG: 1 + 4 retries
DEFAULT_QUOTA_WAIT_S = 60.0
_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


class FirebaseSender:
    def __init__(
        self,
        credentials_path: Path,
        endpoint: str,
        *,
        concurrency: int = 100,
        timeout_s: float = 15.0,
        flush_s: float = 0.05,
    ) -> None:
        cert = credentials.Certificate(str(credentials_path))
        self.project_id: str = cert.project_id
        self.app = firebase_admin.initialize_app(
            cert, {"httpTimeout": timeout_s}, name=f"nw-push-{uuid.uuid4().hex}"
        )
        # The SDK has no setting for FCM's address; the service it caches per app keeps
        # it in `_fcm_url`, which is the one place we change.
        service = messaging._get_messaging_service(self.app)
        service._fcm_url = f"{endpoint.rstrip('/')}/v1/projects/{self.project_id}/messages:send"
        self._google = cert.get_credential()
        self._refresh_lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(concurrency)
        self._blocked_until = 0.0  # monotonic; FCM's quota answer holds every send
        self.flush_s = flush_s

    async def close(self) -> None:
        service = messaging._get_messaging_service(self.app)
        await service._async_client.aclose()
        # delete_app() closes the service with asyncio.run(), which cannot run inside a
        # loop; in a thread it finds the async client already closed.
        await asyncio.to_thread(firebase_admin.delete_app, self.app)

    async def send(self, messages: list[PushMessage]) -> AsyncIterator[list[Sent]]:
        try:
            await self._fresh_token()
        except Exception as exc:
            log.error(
                "operator: cannot get an FCM access token with NW_FIREBASE_CREDENTIALS",
                extra={"error": f"{exc.__class__.__name__}: {exc}"},
            )
            yield [(m, SendResult(Outcome.retry, "OAuth2 token refresh failed")) for m in messages]
            return
        now = datetime.now(UTC)
        done: asyncio.Queue[Sent] = asyncio.Queue()

        async def one(m: PushMessage) -> None:
            async with self._slots:
                result = await self._send_one(m, now)
            done.put_nowait((m, result))

        tasks = [asyncio.create_task(one(m)) for m in messages]
        try:
            left = len(tasks)
            while left:
                group = [await done.get()]
                deadline = time.monotonic() + self.flush_s
                while len(group) < left:
                    wait = deadline - time.monotonic()
                    if wait <= 0:
                        break
                    try:
                        group.append(await asyncio.wait_for(done.get(), wait))
                    except TimeoutError:
                        break
                left -= len(group)
                yield group
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _fresh_token(self) -> None:
        if self._google.valid:  # google-auth counts a token near its expiry as invalid
            return
        async with self._refresh_lock:
            if not self._google.valid:
                await asyncio.to_thread(self._google.refresh, GoogleRequest())

    async def _send_one(self, m: PushMessage, now: datetime) -> SendResult:
        blocked = self._blocked_until - time.monotonic()
        if blocked > 0:
            return SendResult(Outcome.retry, "QUOTA_EXCEEDED", retry_after_s=blocked, throttle=True)
        try:
            message = build_message(m, now)
        except (ValueError, TypeError) as exc:
            log.error("cannot build a push message", extra={"error": str(exc)})
            return SendResult(Outcome.failed, f"message: {exc}")
        try:
            batch = await messaging.send_each_async([message], dry_run=False, app=self.app)
        except exceptions.FirebaseError as exc:  # the SDK's wrapper for anything unexpected
            return SendResult(Outcome.retry, f"{exc.__class__.__name__}: {exc}")
        answer = batch.responses[0]
        if answer.success:
            return SendResult(Outcome.sent)
        return self._classify(answer.exception)

    def _classify(self, exc: exceptions.FirebaseError) -> SendResult:
        response: httpx.Response | None = getattr(exc, "http_response", None)
        status = response.status_code if response is not None else None
        name = exc.__class__.__name__
        if isinstance(exc, messaging.UnregisteredError | messaging.SenderIdMismatchError):
            return SendResult(Outcome.invalid_token, name)
        if isinstance(exc, exceptions.InvalidArgumentError):
            if _token_is_invalid(exc, response):
                return SendResult(Outcome.invalid_token, "invalid registration token")
            # The token is fine and the message is not: our bug; retrying cannot help.
            log.error("FCM refused a message as invalid", extra={"error": _detail(exc, response)})
            return SendResult(Outcome.failed, f"INVALID_ARGUMENT: {exc}"[:500])
        if isinstance(exc, messaging.QuotaExceededError) or status == 429:
            wait = _retry_after(response) or DEFAULT_QUOTA_WAIT_S
            self._blocked_until = max(self._blocked_until, time.monotonic() + wait)
            return SendResult(Outcome.retry, "QUOTA_EXCEEDED", retry_after_s=wait, throttle=True)
        if isinstance(exc, messaging.ThirdPartyAuthError):
            log.error(
                "operator: FCM could not authenticate with APNs or web push "
                "(THIRD_PARTY_AUTH_ERROR); check the app's APNs key in the Firebase console"
            )
            return SendResult(Outcome.retry, name)
        if isinstance(exc, exceptions.UnavailableError | exceptions.InternalError):
            attempts = SDK_ATTEMPTS_ON_5XX if status in (500, 503) else 1
            return SendResult(
                Outcome.retry, name, retry_after_s=_retry_after(response), attempts=attempts
            )
        if isinstance(exc, exceptions.UnauthenticatedError | exceptions.PermissionDeniedError):
            log.error(
                "operator: FCM refused our credentials",
                extra={"error": _detail(exc, response)},
            )
        return SendResult(Outcome.retry, f"{name}: {exc}"[:500])


def _token_is_invalid(exc: exceptions.FirebaseError, response: httpx.Response | None) -> bool:
    """FCM answers a malformed token with INVALID_ARGUMENT and a field violation on
    `message.token`; a bad payload names another field."""
    for detail in _details(response):
        if detail.get("@type") == _BAD_REQUEST:
            fields = {v.get("field") for v in detail.get("fieldViolations", [])}
            if fields:
                return fields == {"message.token"}
    return "registration token" in str(exc).lower()


def _details(response: httpx.Response | None) -> list[dict[str, Any]]:
    if response is None:
        return []
    try:
        details = response.json().get("error", {}).get("details", [])
    except (ValueError, AttributeError):
        return []
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _detail(exc: exceptions.FirebaseError, response: httpx.Response | None) -> str:
    return f"{exc}; details: {_details(response)}"[:2000]


def _retry_after(response: httpx.Response | None) -> float | None:
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return None
