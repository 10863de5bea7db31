"""Every forged, stale or misused access token is answered 401."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tests.auth.factories import Account, new_account
from tests.conftest import AppFactory

SECRET = "test-secret-" + "x" * 32  # the secret the test settings use


def claims_for(account: Account, **changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": "neighbourwatch",
        "aud": "neighbourwatch-api",
        "sub": str(account.id),
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "jti": uuid.uuid4().hex,
        "role": "admin",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, default=lambda d: int(d.timestamp())).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def status_with(client: httpx.AsyncClient, token: str) -> int:
    answer = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    if answer.status_code == 401:
        assert answer.headers["content-type"] == "application/problem+json"
    return answer.status_code


def hs256(claims: dict[str, Any], key: str = SECRET, typ: str = "at+jwt") -> str:
    return jwt.encode(claims, key, algorithm="HS256", headers={"typ": typ})


ATTACKS: dict[str, Callable[[Account], str]] = {
    "alg none": lambda a: f"{b64({'alg': 'none', 'typ': 'at+jwt'})}.{b64(claims_for(a))}.",
    "wrong signature": lambda a: hs256(claims_for(a), key="another-secret-" + "y" * 32),
    "expired": lambda a: hs256(
        claims_for(
            a,
            iat=datetime.now(UTC) - timedelta(hours=2),
            exp=datetime.now(UTC) - timedelta(hours=1),
        )
    ),
    "wrong audience": lambda a: hs256(claims_for(a, aud="another-api")),
    "wrong issuer": lambda a: hs256(claims_for(a, iss="someone-else")),
    "missing exp": lambda a: hs256({k: v for k, v in claims_for(a).items() if k != "exp"}),
    "missing sub": lambda a: hs256({k: v for k, v in claims_for(a).items() if k != "sub"}),
    "sub not a user id": lambda a: hs256(claims_for(a, sub="admin")),
    "unknown user": lambda a: hs256(claims_for(a, sub=str(uuid.uuid4()))),
    "not an access token type": lambda a: hs256(claims_for(a), typ="JWT"),
    "refresh token as access token": lambda a: a.refresh_token,
    "garbage": lambda a: "not.a.jwt",
}


async def test_a_well_formed_token_is_accepted(client: httpx.AsyncClient) -> None:
    account = await new_account(client)
    # The control for the attacks below: the same construction with nothing wrong.
    assert await status_with(client, hs256(claims_for(account))) == 200


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_attack_is_401(client: httpx.AsyncClient, attack: str) -> None:
    account = await new_account(client)
    assert await status_with(client, ATTACKS[attack](account)) == 401


def write_keys(directory: Path, kind: str) -> tuple[Path, Path, bytes]:
    private: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
    if kind == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_path, public_path = directory / "jwt.key", directory / "jwt.pub"
    private_path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_path.write_bytes(public_pem)
    return private_path, public_path, public_pem


@pytest.mark.parametrize(("kind", "alg"), [("ed25519", "EdDSA"), ("rsa", "RS256")])
async def test_key_pair_signing_and_hs256_confusion(
    app_factory: AppFactory, tmp_path: Path, kind: str, alg: str
) -> None:
    private_path, public_path, public_pem = write_keys(tmp_path, kind)
    async with app_factory(
        jwt_secret=None, jwt_private_key_file=private_path, jwt_public_key_file=public_path
    ) as (_app, client):
        account = await new_account(client)
        header = jwt.get_unverified_header(account.access_token)
        assert header["alg"] == alg
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert [key["kid"] for key in jwks["keys"]] == [header["kid"]]
        # A verifier with only the published key accepts our token.
        key = jwt.PyJWK(jwks["keys"][0])
        decoded = jwt.decode(
            account.access_token, key, algorithms=[alg], audience="neighbourwatch-api"
        )
        assert decoded["sub"] == str(account.id)
        assert await status_with(client, account.access_token) == 200
        # The classic confusion: an HS256 token whose HMAC key is our public key.
        forged = jwt.api_jws.PyJWS()
        forged._algorithms["HS256"].prepare_key = lambda k: k  # type: ignore[method-assign,assignment]
        payload = json.dumps(claims_for(account), default=lambda d: int(d.timestamp())).encode()
        token = forged.encode(payload, public_pem, algorithm="HS256", headers={"typ": "at+jwt"})
        assert await status_with(client, token) == 401


async def test_jwks_is_empty_with_a_shared_secret(client: httpx.AsyncClient) -> None:
    assert (await client.get("/.well-known/jwks.json")).json() == {"keys": []}


async def test_an_accepted_token_is_refused_once_it_expires(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Verified tokens are remembered (a client sends the same one with every request);
    # their expiry must still hold.
    monkeypatch.setattr("app.auth.tokens.LEEWAY_S", 0)
    account = await new_account(client)
    expires = int(time.time()) + 2
    token = hs256(claims_for(account, exp=datetime.fromtimestamp(expires, UTC)))
    assert await status_with(client, token) == 200
    assert await status_with(client, token) == 200
    await asyncio.sleep(expires - time.time() + 0.2)
    assert await status_with(client, token) == 401
