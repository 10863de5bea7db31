from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.push.fcm import FirebaseSender
from tests.fakes.fcm import FakeFCM


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


@pytest.fixture
async def fcm_sender(fake_fcm: FakeFCM, service_account: Path) -> AsyncIterator[FirebaseSender]:
    sender = FirebaseSender(service_account, fake_fcm.url, concurrency=20)
    yield sender
    await sender.close()
