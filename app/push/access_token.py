"""The OAuth2 access token FCM wants, from the service account, renewed ahead of time.

google-auth refreshes with blocking `requests` (it signs a JWT and posts it to the
token endpoint), so the refresh runs in a thread, one at a time, while the event loop
goes on. It is done when less than five minutes are left rather than at the last
moment (google-auth's own margin is 3 min 45 s); if the endpoint fails then, the old
token goes on serving until it really ends, and the endpoint is tried again every ten
seconds rather than by every send.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

import requests
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import service_account

log = logging.getLogger("app.push")

# What FCM HTTP v1 needs and no more (firebase-admin asks for six broader scopes, being
# a client for all of Firebase; a push worker's token can then only send messages).
SCOPES = ("https://www.googleapis.com/auth/firebase.messaging",)
REFRESH_AHEAD = timedelta(minutes=5)
# After a failed refresh, how long before the next try (the old token serves meanwhile,
# if it still works).
RETRY_REFRESH_S = 10.0


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # google-auth's expiry is naive UTC


class TokenUnavailable(Exception):
    """The token endpoint failed a moment ago, and there is no token that still works."""


class AccessToken:
    def __init__(self, credentials: service_account.Credentials) -> None:
        self.credentials = credentials
        self._lock = asyncio.Lock()
        self._ahead = REFRESH_AHEAD
        # After a failed refresh: no other try before this (monotonic), and why it failed.
        self._next_try = 0.0
        self._failure = ""

    def _due(self) -> bool:
        c = self.credentials
        if c.token and (c.expiry is None or _utcnow() < c.expiry - self._ahead):
            return False
        # Near its end, or gone: renew, unless that just failed and the token still serves.
        return not (self._usable() and time.monotonic() < self._next_try)

    def _usable(self) -> bool:
        c = self.credentials
        return bool(c.token) and (c.expiry is None or _utcnow() < c.expiry)

    async def bearer(self) -> str:
        """The token to send with, renewed first when it nears its end. Raises when there
        is no usable token and the token endpoint fails (or failed a moment ago)."""
        if self._due():
            async with self._lock:  # the others wait for this one refresh
                if self._due():
                    await self._refresh()
        token = self.credentials.token
        assert isinstance(token, str)  # _refresh() leaves one, or raised
        return token

    def forget(self, token: str) -> None:
        """FCM refused this token (401): the next send gets a new one."""
        if self.credentials.token == token:
            self.credentials.token = None

    async def _refresh(self) -> None:
        if time.monotonic() < self._next_try:  # neither hammer the endpoint nor pile up threads
            raise TokenUnavailable(self._failure)
        try:
            await asyncio.to_thread(self._refresh_blocking)
        except Exception as exc:
            self._next_try = time.monotonic() + RETRY_REFRESH_S
            self._failure = f"{exc.__class__.__name__}: {exc}"
            if not self._usable():
                raise
            log.warning(
                "cannot renew the FCM access token yet; the current one still serves",
                extra={"error": self._failure},
            )
            return
        self._next_try = 0.0
        expiry = self.credentials.expiry
        if expiry is not None:  # a short-lived token is renewed half-way, not constantly
            self._ahead = min(REFRESH_AHEAD, (expiry - _utcnow()) / 2)

    def _refresh_blocking(self) -> None:
        with requests.Session() as session:
            self.credentials.refresh(GoogleRequest(session))  # type: ignore[no-untyped-call]
