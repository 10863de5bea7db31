"""The firebase-admin adapter of the PushSender port (NW_PUSH_SENDER=firebase-admin).

The reference for our own sender (app.push.fcm_http), which sends what this sends at a
fraction of the CPU; kept to compare against, and to fall back on.

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
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import firebase_admin
import httpx
from firebase_admin import credentials, exceptions, messaging
from google.auth.transport.requests import Request as GoogleRequest

from app.push.fcm_errors import FcmFailure, Throttle, classify, without_token
from app.push.senders import Outcome, PushMessage, SendResult, Sent, in_groups
from app.push.shaping import build_message

log = logging.getLogger("app.push")

SDK_ATTEMPTS_ON_5XX = 5  # firebase-admin's DEFAULT_HTTPX_RETRY_CONFIG: 1 + 4 retries


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
        self._throttle = Throttle()
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
            yield without_token(messages, exc)
            return
        now = datetime.now(UTC)

        async def one(m: PushMessage) -> SendResult:
            async with self._slots:
                return await self._send_one(m, now)

        async for group in in_groups(messages, one, self.flush_s):
            yield group

    async def _fresh_token(self) -> None:
        if self._google.valid:  # google-auth counts a token near its expiry as invalid
            return
        async with self._refresh_lock:
            if not self._google.valid:
                await asyncio.to_thread(self._google.refresh, GoogleRequest())

    async def _send_one(self, m: PushMessage, now: datetime) -> SendResult:
        refused = self._throttle.refused()
        if refused is not None:
            return refused
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
        error = answer.exception
        response: httpx.Response | None = getattr(error, "http_response", None)
        if response is None:  # no answer: a timeout, a connection refused or cut
            return SendResult(Outcome.retry, f"{error.__class__.__name__}: {error}"[:500])
        # The SDK chose its exception from this answer; the shared rules read it the same.
        failure = FcmFailure.parse(
            response.status_code, response.content, response.headers.get("Retry-After")
        )
        return classify(failure, self._throttle, attempts_on_5xx=SDK_ATTEMPTS_ON_5XX)
