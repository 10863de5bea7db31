"""Our FCM sender's own parts: its access token, its headers, and how it is chosen."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.oauth2 import service_account
from pydantic import ValidationError

from app.push.access_token import SCOPES
from app.push.adapters import LogSender, sender_for
from app.push.fcm import FirebaseSender
from app.push.fcm_http import FcmHttpSender, env_proxy
from app.push.senders import Outcome, PushMessage, PushSender, SendResult
from app.settings import Settings
from tests.fakes.fcm import FakeFCM
from tests.push.conftest import make_sender
from tests.push.factories import wait_for


class ScriptedCredentials(service_account.Credentials):
    """The service account's credentials, whose refresh can be made to wait or fail."""

    gate: threading.Event | None = None  # refresh waits for it
    entered: threading.Event
    threads: list[int]
    fail = False

    def refresh(self, request: Any) -> None:
        self.threads.append(threading.get_ident())
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(timeout=10)
        if self.fail:
            raise OSError("the token endpoint is unreachable")
        super().refresh(request)  # type: ignore[no-untyped-call]


def scripted(path: Path) -> ScriptedCredentials:
    credentials: ScriptedCredentials = ScriptedCredentials.from_service_account_file(  # type: ignore[no-untyped-call]
        str(path), scopes=SCOPES
    )
    credentials.entered = threading.Event()
    credentials.threads = []
    return credentials


def message(token: str) -> PushMessage:
    return PushMessage(uuid.uuid4(), token, "android", False, {"title": "t", "body": "b"})


async def results(sender: PushSender, tokens: list[str]) -> list[SendResult]:
    return [r async for group in sender.send([message(t) for t in tokens]) for _, r in group]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def bearer(fake: FakeFCM) -> str:
    return fake.last_headers["authorization"].removeprefix("Bearer ")


async def test_the_token_is_fetched_in_a_thread_once_while_the_loop_goes_on(
    fake_fcm: FakeFCM, service_account: Path
) -> None:
    credentials = scripted(service_account)
    credentials.gate = threading.Event()
    sender = FcmHttpSender(credentials, fake_fcm.url, concurrency=10)
    try:
        batches = [
            asyncio.create_task(results(sender, [f"a-{n}" for n in range(10)])),
            asyncio.create_task(results(sender, [f"b-{n}" for n in range(10)])),
        ]

        async def refreshing() -> bool:
            return credentials.entered.is_set()

        await wait_for(refreshing, "the token refresh to start", patience_s=10)
        # This coroutine runs while the refresh is held in its thread: it is off the loop.
        assert credentials.token is None
        assert credentials.threads[0] != threading.get_ident()
        assert not any(batch.done() for batch in batches)  # the sends wait for the token
        credentials.gate.set()
        answers = [r for batch in batches for r in await batch]
    finally:
        await sender.close()
    assert [r.outcome for r in answers] == [Outcome.sent] * 20
    assert len(credentials.threads) == 1  # one refresh for both batches
    assert fake_fcm.token_requests == 1
    assert bearer(fake_fcm) == fake_fcm.issued[0]


async def test_a_token_near_its_end_is_renewed_before_sending(
    fake_fcm: FakeFCM, service_account: Path
) -> None:
    sender = FcmHttpSender.from_service_account(service_account, fake_fcm.url)
    credentials = sender.tokens.credentials
    try:
        await results(sender, ["one"])
        first = bearer(fake_fcm)
        assert fake_fcm.issued == [first]

        credentials.expiry = utcnow() + timedelta(minutes=6)
        await results(sender, ["two"])
        assert fake_fcm.issued == [first]  # still good for a while: kept
        assert bearer(fake_fcm) == first

        credentials.expiry = utcnow() + timedelta(minutes=4)
        await results(sender, ["three"])
    finally:
        await sender.close()
    assert len(fake_fcm.issued) == 2  # renewed while the old one still worked
    assert bearer(fake_fcm) == fake_fcm.issued[1]
    assert fake_fcm.tokens() == {"one": 1, "two": 1, "three": 1}


async def test_a_failed_early_renewal_keeps_the_token_until_it_ends(
    fake_fcm: FakeFCM, service_account: Path, caplog: pytest.LogCaptureFixture
) -> None:
    credentials = scripted(service_account)
    sender = FcmHttpSender(credentials, fake_fcm.url)
    try:
        await results(sender, ["one"])
        credentials.fail = True
        credentials.expiry = utcnow() + timedelta(minutes=4)
        with caplog.at_level(logging.WARNING, logger="app.push"):
            soon = await results(sender, ["two", "three"])
        assert [r.outcome for r in soon] == [Outcome.sent] * 2
        assert len(credentials.threads) == 2  # one try, not one per send
        assert any("still serves" in r.getMessage() for r in caplog.records)

        credentials.expiry = utcnow() - timedelta(seconds=1)
        with caplog.at_level(logging.ERROR, logger="app.push"):
            late = await results(sender, ["four"])
    finally:
        await sender.close()
    assert [(r.outcome, r.error) for r in late] == [(Outcome.retry, "OAuth2 token refresh failed")]
    assert any("operator: cannot get an FCM access token" in r.getMessage() for r in caplog.records)
    assert len(credentials.threads) == 2  # it failed a moment ago: not tried again yet
    assert fake_fcm.tokens() == {"one": 1, "two": 1, "three": 1}


async def test_a_token_fcm_refuses_is_replaced(fake_fcm: FakeFCM, service_account: Path) -> None:
    sender = FcmHttpSender.from_service_account(service_account, fake_fcm.url)
    refused = {"error": {"code": 401, "message": "Invalid token", "status": "UNAUTHENTICATED"}}
    fake_fcm.scripted = {"refused": (401, refused, {})}
    try:
        assert [r.outcome for r in await results(sender, ["refused"])] == [Outcome.retry]
        assert [r.outcome for r in await results(sender, ["fine"])] == [Outcome.sent]
    finally:
        await sender.close()
    assert len(fake_fcm.issued) == 2
    assert bearer(fake_fcm) == fake_fcm.issued[1]


async def test_both_senders_send_what_firebase_admin_sends(
    fake_fcm: FakeFCM, service_account: Path
) -> None:
    seen: dict[str, dict[str, str]] = {}
    for name in ("firebase-admin", "fcm"):
        sender = make_sender(name, service_account, fake_fcm.url)
        try:
            assert [r.outcome for r in await results(sender, [name])] == [Outcome.sent]
        finally:
            await sender.close()
        seen[name] = dict(fake_fcm.last_headers)
    # Each HTTP client's own: where it connects, its name, the body's length, the token.
    own = {"host", "user-agent", "content-length", "authorization", "connection"}
    sdk, ours = ({k: v for k, v in h.items() if k not in own} for h in seen.values())
    assert ours == sdk
    assert ours["x-firebase-client"].startswith("fire-admin-python/")
    assert ours["x-goog-api-format-version"] == "2"
    assert ours["content-type"] == "application/json"
    messages = fake_fcm.by_token()
    assert messages["fcm"] | {"token": "x"} == messages["firebase-admin"] | {"token": "x"}


def test_the_proxy_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """As firebase-admin's httpx honours HTTPS_PROXY and NO_PROXY, so does ours."""
    fcm = "https://fcm.googleapis.com/v1/projects/p/messages:send"
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert env_proxy(fcm) is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert env_proxy(fcm) == "http://proxy.internal:3128"
    assert env_proxy("http://127.0.0.1:9999/v1/projects/p/messages:send") is None
    monkeypatch.setenv("NO_PROXY", "localhost,.googleapis.com")
    assert env_proxy(fcm) is None


@pytest.mark.parametrize(
    ("chosen", "credentials", "expected"),
    [
        (None, True, FcmHttpSender),
        (None, False, LogSender),
        ("fcm", True, FcmHttpSender),
        ("firebase-admin", True, FirebaseSender),
        ("log", True, LogSender),  # credentials for Firebase sign-in only
        ("log", False, LogSender),
    ],
)
async def test_nw_push_sender_chooses_the_sender(
    service_account: Path, chosen: str | None, credentials: bool, expected: type
) -> None:
    settings = Settings(
        push_sender=chosen, firebase_credentials=service_account if credentials else None
    )
    sender = sender_for(settings)
    try:
        assert type(sender) is expected
    finally:
        await sender.close()


def test_nw_push_sender_refuses_what_it_cannot_do(
    service_account: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NW_PUSH_SENDER", "apns")
    with pytest.raises(ValidationError, match="push_sender") as bad:
        Settings(firebase_credentials=service_account)
    assert "'fcm', 'firebase-admin' or 'log'" in str(bad.value)
    monkeypatch.setenv("NW_PUSH_SENDER", "firebase-admin")
    with pytest.raises(ValidationError, match="needs NW_FIREBASE_CREDENTIALS"):
        Settings()
