"""Access tokens (JWT, PyJWT) and the signing keys behind them.

HS256 with a shared secret by default; EdDSA or RS256 when a key pair is configured, in
which case the public key is published at `/.well-known/jwks.json`. Verification
always names the one algorithm in use, so a token cannot choose its own (`alg: none`,
or an HS256 token "signed" with our public key).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from app.settings import ConfigurationError, Settings

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 — RFC 9068: sets our access tokens apart from other JWTs
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "jti", "role"]
LEEWAY_S = 5  # clock skew allowed on exp/iat/nbf
VERIFIED_TOKENS_KEPT = 10_000
# An API client's token: `sub` is `client:<id>`, never a user id, and its `role` is
# `client`, so that no code reading a user token can take one for the other.
CLIENT_SUBJECT_PREFIX = "client:"
CLIENT_ROLE = "client"


class InvalidToken(Exception):
    """The token is not one of our valid access tokens."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    role: str
    scope: str | None
    token_id: str
    expires_at: float  # seconds since the epoch (`exp`)


@dataclass(frozen=True)
class ClientClaims:
    """A client-credentials access token's claims (RFC 9068: `scope`, `client_id`)."""

    client_id: uuid.UUID
    scopes: frozenset[str]
    token_id: str
    expires_at: float


def _load_or_create_secret(var_dir: Path) -> str:
    """The embedded shape's HS256 secret, generated once and kept under var/."""
    path = var_dir / "jwt_secret"
    var_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        secret = secrets.token_urlsafe(48)
        f.write(secret)
    return secret


class TokenService:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        # Tokens already verified, oldest first. A mobile client sends the same token
        # with every request until it expires; checking its signature and claims again
        # each time cost more than the rest of the authentication (PyJWT walks each
        # segment character by character). Expiry is still checked on every use.
        self._verified: dict[str, AccessClaims | ClientClaims] = {}
        self.kid: str | None = None
        self._public_jwk: dict[str, Any] | None = None
        if settings.uses_key_pair:
            assert settings.jwt_private_key_file
            assert settings.jwt_public_key_file
            private = serialization.load_pem_private_key(
                settings.jwt_private_key_file.read_bytes(), password=None
            )
            public = serialization.load_pem_public_key(settings.jwt_public_key_file.read_bytes())
            if isinstance(private, Ed25519PrivateKey) and isinstance(public, Ed25519PublicKey):
                self.algorithm = "EdDSA"
                jwk = json.loads(OKPAlgorithm.to_jwk(public))
            elif isinstance(private, RSAPrivateKey) and isinstance(public, RSAPublicKey):
                if private.key_size < 2048:
                    raise ConfigurationError("RSA keys must have at least 2048 bits")
                self.algorithm = "RS256"
                jwk = json.loads(RSAAlgorithm.to_jwk(public))
            else:
                raise ConfigurationError("the JWT key pair must be Ed25519 or RSA, and match")
            der = public.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            self.kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:12]).decode()
            self._public_jwk = {**jwk, "kid": self.kid, "use": "sig", "alg": self.algorithm}
            self._signing_key: Any = private
            self._verifying_key: Any = public
        else:
            secret = (
                settings.jwt_secret.get_secret_value()
                if settings.jwt_secret is not None
                else _load_or_create_secret(settings.var_dir)
            )
            self.algorithm = "HS256"
            self._signing_key = self._verifying_key = secret

    def issue_access(
        self, user_id: uuid.UUID, role: str, scope: str | None = None
    ) -> tuple[str, int]:
        now = datetime.now(UTC)
        ttl = self._settings.access_token_ttl_s
        claims: dict[str, Any] = {
            "iss": self._settings.jwt_issuer,
            "aud": self._settings.jwt_audience,
            "sub": str(user_id),
            "iat": now,
            "exp": now + timedelta(seconds=ttl),
            "jti": secrets.token_urlsafe(16),
            "role": role,
        }
        if scope:
            claims["scope"] = scope
        return self._sign(claims), ttl

    def issue_client_access(self, client_id: uuid.UUID, scopes: list[str]) -> tuple[str, int]:
        now = datetime.now(UTC)
        ttl = self._settings.access_token_ttl_s
        claims: dict[str, Any] = {
            "iss": self._settings.jwt_issuer,
            "aud": self._settings.jwt_audience,
            "sub": CLIENT_SUBJECT_PREFIX + str(client_id),
            "client_id": str(client_id),
            "iat": now,
            "exp": now + timedelta(seconds=ttl),
            "jti": secrets.token_urlsafe(16),
            "role": CLIENT_ROLE,
            "scope": " ".join(scopes),
        }
        return self._sign(claims), ttl

    def _sign(self, claims: dict[str, Any]) -> str:
        headers: dict[str, Any] = {"typ": ACCESS_TOKEN_TYPE}
        if self.kid:
            headers["kid"] = self.kid
        return jwt.encode(claims, self._signing_key, algorithm=self.algorithm, headers=headers)

    def verify_access(self, token: str) -> AccessClaims:
        """A user's access token; an API client's is refused (InvalidToken)."""
        claims = self._verified_claims(token)
        if not isinstance(claims, AccessClaims):
            raise InvalidToken("an API client's token, not a user's")
        return claims

    def verify_client_access(self, token: str) -> ClientClaims:
        """An API client's access token; a user's is refused (InvalidToken)."""
        claims = self._verified_claims(token)
        if not isinstance(claims, ClientClaims):
            raise InvalidToken("a user's token, not an API client's")
        return claims

    def _verified_claims(self, token: str) -> AccessClaims | ClientClaims:
        known = self._verified.get(token)
        if known is not None:
            if time.time() < known.expires_at + LEEWAY_S:
                return known
            del self._verified[token]
        claims = self._verify(token)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> AccessClaims | ClientClaims:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("typ") != ACCESS_TOKEN_TYPE:
                raise InvalidToken("not an access token")
            claims = jwt.decode(
                token,
                self._verifying_key,
                algorithms=[self.algorithm],
                audience=self._settings.jwt_audience,
                issuer=self._settings.jwt_issuer,
                options={"require": REQUIRED_CLAIMS},
                leeway=LEEWAY_S,
            )
            subject, role = str(claims["sub"]), str(claims["role"])
            if subject.startswith(CLIENT_SUBJECT_PREFIX) or role == CLIENT_ROLE:
                client_id = uuid.UUID(str(claims.get("client_id")))
                # Both marks or neither: a token with only one of them is no token of ours.
                if role != CLIENT_ROLE or subject != CLIENT_SUBJECT_PREFIX + str(client_id):
                    raise InvalidToken("inconsistent client claims")
                scope = claims.get("scope")
                if not isinstance(scope, str):
                    raise InvalidToken("a client token carries its scopes")
                return ClientClaims(
                    client_id=client_id,
                    scopes=frozenset(scope.split()),
                    token_id=str(claims["jti"]),
                    expires_at=float(claims["exp"]),
                )
            return AccessClaims(
                user_id=uuid.UUID(str(claims["sub"])),
                role=str(claims["role"]),
                scope=claims.get("scope"),
                token_id=str(claims["jti"]),
                expires_at=float(claims["exp"]),
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken(str(exc)) from exc

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [self._public_jwk] if self._public_jwk else []}


def new_refresh_token() -> tuple[str, str]:
    """A fresh opaque refresh token and the hash under which it is stored."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    # The token has 256 bits of entropy: a fast hash is enough to make a stolen
    # database useless, and lets us look tokens up by hash.
    return hashlib.sha256(token.encode()).hexdigest()
