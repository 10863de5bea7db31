from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.push.fcm import FirebaseSender
from app.push.fcm_http import DEFAULT_TIMEOUT, FcmHttpSender
from app.push.senders import PushSender
from tests.fakes.fcm import FakeFCM

# Both FCM clients NW_PUSH_SENDER chooses from: every FCM test runs on each.
FCM_SENDERS = ["fcm", "firebase-admin"]


def make_sender(
    name: str,
    service_account: Path,
    endpoint: str,
    *,
    concurrency: int = 20,
    timeout_s: float | None = None,  # each sender's default
) -> FcmHttpSender | FirebaseSender:
    if name == "firebase-admin":
        return FirebaseSender(
            service_account, endpoint, concurrency=concurrency, timeout_s=timeout_s or 15.0
        )
    timeout = DEFAULT_TIMEOUT if timeout_s is None else aiohttp.ClientTimeout(total=timeout_s)
    return FcmHttpSender.from_service_account(
        service_account, endpoint, concurrency=concurrency, timeout=timeout
    )


@pytest.fixture(scope="session")
def service_account_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def fake_fcm(service_account_key: rsa.RSAPrivateKey) -> Iterator[FakeFCM]:
    with FakeFCM(key=service_account_key) as fake:
        yield fake


@pytest.fixture
def service_account(fake_fcm: FakeFCM, tmp_path: Path) -> Path:
    return fake_fcm.service_account(tmp_path / "service-account.json")


@pytest.fixture(params=FCM_SENDERS)
def sender_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def fcm_sender(
    fake_fcm: FakeFCM, service_account: Path, sender_name: str
) -> AsyncIterator[PushSender]:
    sender = make_sender(sender_name, service_account, fake_fcm.url)
    yield sender
    await sender.close()
