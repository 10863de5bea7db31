"""Our own FCM HTTP v1 adapter of the PushSender port, on one long-lived aiohttp session.

firebase-admin's `send_each_async` spends ~1,700 µs of CPU a push, most of it in
httpx/httpcore's connection pool; this sends the same requests (URL, headers, and
bodies byte for byte: app.push.fcm_json) over a keep-alive aiohttp pool of
`concurrency` connections, and reads FCM's answers with the same rules
(app.push.fcm_errors). Unlike the SDK it never retries by itself: each result is one
HTTP request, and the dispatcher retries with its backoff and Retry-After.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from platform import python_version

import aiohttp
import firebase_admin
from google.oauth2 import service_account

from app.push.access_token import SCOPES, AccessToken
from app.push.fcm_errors import FcmFailure, Throttle, classify, without_token
from app.push.fcm_json import Bodies
from app.push.senders import Outcome, PushMessage, SendResult, Sent, in_groups

log = logging.getLogger("app.push")

# firebase-admin's own headers (messaging.py `_fcm_headers`, _http_client.py
# METRICS_HEADERS plus google-auth's credential-type metric), so that FCM sees the
# same client either way.
_SDK = firebase_admin.__version__
HEADERS = {
    "X-GOOG-API-FORMAT-VERSION": "2",
    "X-FIREBASE-CLIENT": f"fire-admin-python/{_SDK}",
    "x-goog-api-client": f"gl-python/{python_version()} fire-admin/{_SDK} cred-type/sa",
    "Content-Type": "application/json",
}
# Total as firebase-admin's httpTimeout in app.push.fcm; a connection or an answer that
# stalls is given up sooner, and the delivery retried.
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=15.0, connect=5.0, sock_read=10.0)


def env_proxy(url: str) -> str | None:
    """HTTPS_PROXY and NO_PROXY, as httpx under firebase-admin honours them. Read once:
    aiohttp's trust_env reads them, and ~/.netrc, in a thread for every request."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


class FcmHttpSender:
    def __init__(
        self,
        credentials: service_account.Credentials,
        endpoint: str,
        *,
        concurrency: int = 100,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        flush_s: float = 0.05,
    ) -> None:
        self.project_id: str = credentials.project_id
        self.url = f"{endpoint.rstrip('/')}/v1/projects/{self.project_id}/messages:send"
        self.tokens = AccessToken(credentials)
        self.concurrency = concurrency
        self.timeout = timeout
        self.flush_s = flush_s
        self.headers = dict(HEADERS)
        if credentials.quota_project_id:  # as google-auth's Credentials.apply() adds it
            self.headers["x-goog-user-project"] = credentials.quota_project_id
        self._throttle = Throttle()
        # Sends wait here, not in the connector's queue, where the wait would count in
        # their timeouts.
        self._slots = asyncio.Semaphore(concurrency)
        # Made on first use: a session belongs to the running event loop.
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_service_account(
        cls,
        path: Path,
        endpoint: str,
        *,
        concurrency: int = 100,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> FcmHttpSender:
        credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            str(path), scopes=SCOPES
        )
        return cls(credentials, endpoint, concurrency=concurrency, timeout=timeout)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                # One connection per request in flight (HTTP/1.1), kept alive between
                # them; as many as there are slots, so a send never queues for one.
                connector=aiohttp.TCPConnector(limit=self.concurrency),
                timeout=self.timeout,
                headers=self.headers,
                proxy=env_proxy(self.url),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, messages: list[PushMessage]) -> AsyncIterator[list[Sent]]:
        try:
            await self.tokens.bearer()
        except Exception as exc:
            yield without_token(messages, exc)
            return
        bodies = Bodies()
        session = self._client()

        async def one(m: PushMessage) -> SendResult:
            async with self._slots:
                return await self._send_one(session, bodies, m)

        async for group in in_groups(messages, one, self.flush_s):
            yield group

    async def _send_one(
        self, session: aiohttp.ClientSession, bodies: Bodies, m: PushMessage
    ) -> SendResult:
        refused = self._throttle.refused()
        if refused is not None:
            return refused
        try:
            body = bodies.body(m, datetime.now(UTC))
        except (ValueError, TypeError) as exc:
            log.error("cannot build a push message", extra={"error": str(exc)})
            return SendResult(Outcome.failed, f"message: {exc}")
        try:
            bearer = await self.tokens.bearer()
        except Exception as exc:
            return SendResult(Outcome.retry, f"OAuth2 token refresh failed: {exc}"[:500])
        try:
            async with session.post(
                self.url, data=body, headers={"Authorization": f"Bearer {bearer}"}
            ) as response:
                answer = await response.read()  # read whole, so the connection is reused
                status, retry_after = response.status, response.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError) as exc:
            # No answer (refused, cut mid-request, timed out): whether FCM took it is
            # unknown, and as with the SDK it is tried again (a rare repeat, never a loss).
            return SendResult(Outcome.retry, f"{exc.__class__.__name__}: {exc}"[:500])
        if 200 <= status < 300:
            return SendResult(Outcome.sent)
        failure = FcmFailure.parse(status, answer, retry_after)
        if failure.code == "UNAUTHENTICATED":
            self.tokens.forget(bearer)
        return classify(failure, self._throttle)
