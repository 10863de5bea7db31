"""A fake Firebase Cloud Messaging: FCM HTTP v1 and Google's OAuth2 token endpoint.

A real HTTP server on loopback, so the real `firebase-admin` client (and our own,
app.push.fcm_http) runs end to end: `service_account()` writes a service-account file
whose `token_uri` points here, the client signs a JWT assertion with its private key,
this server verifies it with the public key and hands out an access token, and
`messages:send` checks that bearer token and the message's shape before accepting it.
It can be told to answer `UNREGISTERED` or an invalid-token `INVALID_ARGUMENT` for
chosen tokens, a burst of 429s with `Retry-After`, 503 at a given rate, to be slow, to
hold requests (all after a count, for crash tests, or chosen tokens'), to cut
connections mid-request, or to answer anything scripted for a token; it records what
it accepted, the access tokens it issued and the headers of the last send.

Run on its own (for benchmarks): `python -m tests.fakes.fcm --port 0 --credentials F`
prints its base URL on the first line of stdout and serves until killed; `GET
/_fake/stats` answers the counts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
SCOPES = {
    "https://www.googleapis.com/auth/firebase.messaging",
    "https://www.googleapis.com/auth/cloud-platform",
}
_MESSAGE_KEYS = {
    "token",
    "topic",
    "condition",
    "name",
    "data",
    "notification",
    "android",
    "apns",
    "webpush",
    "fcm_options",
}
_ANDROID_KEYS = {
    "collapse_key",
    "priority",
    "ttl",
    "restricted_package_name",
    "data",
    "notification",
    "fcm_options",
    "direct_boot_ok",
}
_RESERVED_DATA = {"from", "notification", "message_type"}
CUT = 0  # the status logged for a send whose connection was closed unanswered


def write_service_account(
    path: Path, key: rsa.RSAPrivateKey, project_id: str, client_email: str, token_uri: str
) -> Path:
    """A service-account JSON file as Google issues them, for a key and token endpoint of
    ours (the fake's, the benchmarks' stand-in's)."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": "fake-key-1",
        "private_key": pem,
        "client_email": client_email,
        "client_id": "1",
        "token_uri": token_uri,
    }
    path.write_text(json.dumps(info))
    return path


def shape_errors(message: Any) -> list[tuple[str, str]]:
    """What FCM would refuse in a message, as (field, description) pairs."""
    if not isinstance(message, dict):
        return [("message", "must be an object")]
    errors = [(f"message.{k}", "unknown field") for k in message if k not in _MESSAGE_KEYS]
    targets = [k for k in ("token", "topic", "condition") if k in message]
    if len(targets) != 1:
        errors.append(("message", "exactly one of token, topic, condition"))
    if "token" in message and not (isinstance(message["token"], str) and message["token"]):
        errors.append(("message.token", "must be a non-empty string"))
    errors += _string_map(message.get("data"), "message.data")
    for key in message.get("data") or {}:
        if key in _RESERVED_DATA or key.startswith(("google.", "gcm.")):
            errors.append((f"message.data.{key}", "reserved key"))
    notification = message.get("notification")
    if notification is not None and (
        not isinstance(notification, dict) or set(notification) - {"title", "body", "image"}
    ):
        errors.append(("message.notification", "only title, body and image"))
    android = message.get("android")
    if android is not None:
        if not isinstance(android, dict):
            return [*errors, ("message.android", "must be an object")]
        errors += [
            (f"message.android.{k}", "unknown field") for k in android if k not in _ANDROID_KEYS
        ]
        if android.get("priority", "normal") not in ("normal", "high"):
            errors.append(("message.android.priority", "normal or high"))
        if "ttl" in android and not re.fullmatch(r"\d+(\.\d{1,9})?s", str(android["ttl"])):
            errors.append(("message.android.ttl", "a duration such as '3.5s'"))
        errors += _string_map(android.get("data"), "message.android.data")
    apns = message.get("apns")
    if apns is not None:
        if not isinstance(apns, dict):
            return [*errors, ("message.apns", "must be an object")]
        headers = apns.get("headers") or {}
        errors += _string_map(headers, "message.apns.headers")
        if headers.get("apns-priority", "10") not in ("5", "10"):
            errors.append(("message.apns.headers", "apns-priority is 5 or 10"))
        payload = apns.get("payload")
        if payload is not None and not isinstance((payload or {}).get("aps"), dict):
            errors.append(("message.apns.payload", "needs an aps dictionary"))
    webpush = message.get("webpush")
    if webpush is not None:
        if not isinstance(webpush, dict):
            return [*errors, ("message.webpush", "must be an object")]
        errors += _string_map(webpush.get("headers"), "message.webpush.headers")
    return errors


def _string_map(value: Any, name: str) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return [(name, "must map strings to strings")]
    return []


def _error(
    status: int, code: str, message: str, fcm: str | None = None, **extra: Any
) -> JSONResponse:
    details: list[dict[str, Any]] = []
    if fcm:
        details.append({"@type": FCM_ERROR, "errorCode": fcm})
    if "violations" in extra:
        details.append(
            {
                "@type": BAD_REQUEST,
                "fieldViolations": [
                    {"field": f, "description": d} for f, d in extra.pop("violations")
                ],
            }
        )
    body = {"error": {"code": status, "message": message, "status": code, "details": details}}
    return JSONResponse(body, status, headers=extra.get("headers"))


@dataclass
class FakeFCM:
    """Configure the attributes at any time; they are read on each request."""

    project_id: str = "nw-test"
    unregistered: set[str] = field(default_factory=set)
    invalid_tokens: set[str] = field(default_factory=set)
    bad_payload_for: set[str] = field(default_factory=set)  # answer as if our payload were bad
    third_party_auth_for: set[str] = field(default_factory=set)  # APNs refused FCM's key
    quota_burst: int = 0  # the next N sends answer 429
    retry_after_s: int = 1
    unavailable_rate: float = 0.0  # this share of sends answers 503
    delay_s: float = 0.0
    hold_after: int | None = None  # once this many are accepted, hold further sends
    hold_tokens: set[str] = field(default_factory=set)  # hold sends to these
    drop_next: int = 0  # the next N sends: the connection is closed with no answer
    # Any answer for chosen tokens: (HTTP status, body (JSON, or bytes as they are), headers)
    scripted: dict[str, tuple[int, Any, dict[str, str]]] = field(default_factory=dict)
    seed: int = 0
    key: rsa.RSAPrivateKey | None = None

    def __post_init__(self) -> None:
        self._key = self.key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.client_email = f"push@{self.project_id}.iam.gserviceaccount.com"
        self.accepted: list[dict[str, Any]] = []
        self.accepted_at: list[float] = []
        self.answers: Counter[int] = Counter()
        # Every send as it arrived: (time.monotonic(), token, HTTP status answered).
        self.log: list[tuple[float, str, int]] = []
        self.validated = 0
        self.token_requests = 0
        self.issued: list[str] = []  # access tokens, oldest first
        self.last_headers: dict[str, str] = {}  # of the last send
        self.held = 0
        self._access_tokens: set[str] = set()
        self._rng = random.Random(self.seed)
        self._release: asyncio.Event | None = None
        self._drop_held = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.app = Starlette(
            routes=[
                Route("/token", self._token, methods=["POST"]),
                Route("/v1/projects/{project}/messages:send", self._send, methods=["POST"]),
                Route("/_fake/stats", self._stats, methods=["GET"]),
            ]
        )

    # -- what tests read -------------------------------------------------------------
    def tokens(self) -> Counter[str]:
        """How many times each device token was accepted."""
        return Counter(m["token"] for m in self.accepted)

    def by_token(self) -> dict[str, dict[str, Any]]:
        return {m["token"]: m for m in self.accepted}

    def service_account(self, path: Path) -> Path:
        """A service-account file for the SDK whose token endpoint is this server."""
        return write_service_account(
            path, self._key, self.project_id, self.client_email, f"{self.url}/token"
        )

    def release_held(self, *, drop: bool) -> None:
        """Stop holding: `drop` answers held sends 503 without accepting them (the
        client that sent them is gone); otherwise they go on as usual."""
        self.hold_after = None
        self.hold_tokens = set()
        self._drop_held = drop
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)

    # -- server ----------------------------------------------------------------------
    def start(self, port: int = 0) -> FakeFCM:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake FCM did not start")
            time.sleep(0.01)
        sock = self._server.servers[0].sockets[0]
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeFCM:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- endpoints -------------------------------------------------------------------
    async def _token(self, request: Request) -> Response:
        self.token_requests += 1
        form = await request.form()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        try:
            claims = jwt.decode(
                str(form.get("assertion", "")),
                self._key.public_key(),
                algorithms=["RS256"],
                # google-auth always names Google's endpoint, whatever token_uri says.
                audience=[GOOGLE_TOKEN_AUDIENCE, f"{self.url}/token"],
                issuer=self.client_email,
                options={"require": ["exp", "iat", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            return JSONResponse({"error": "invalid_grant", "error_description": str(exc)}, 400)
        if not SCOPES & set(str(claims.get("scope", "")).split()):
            return JSONResponse({"error": "invalid_scope"}, 400)
        token = "fake-" + secrets.token_urlsafe(24)
        self._access_tokens.add(token)
        self.issued.append(token)
        return JSONResponse({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    async def _send(self, request: Request) -> Response:
        arrived = time.monotonic()
        answer, token = await self._answer(request)
        self.answers[answer.status_code] += 1
        self.log.append((arrived, token, answer.status_code))
        return answer

    def attempts(self, token: str) -> int:
        return sum(1 for _, t, _ in self.log if t == token)

    async def _answer(self, request: Request) -> tuple[Response, str]:
        body: Any = None
        with contextlib.suppress(ValueError):
            body = json.loads(await request.body())
        message = body.get("message") if isinstance(body, dict) else None
        token = message.get("token", "") if isinstance(message, dict) else ""
        return await self._judge(request, body, message, str(token)), str(token)

    async def _judge(
        self, request: Request, body: Any, message: dict[str, Any] | None, token: str
    ) -> Response:
        self._loop = asyncio.get_running_loop()
        self.last_headers = dict(request.headers)
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self._access_tokens:
            return _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        if request.path_params["project"] != self.project_id:
            return _error(403, "PERMISSION_DENIED", "Permission denied on this project.")
        if body is None:
            return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        violations = shape_errors(message)
        if violations:
            return _error(
                400,
                "INVALID_ARGUMENT",
                "Request contains an invalid argument.",
                "INVALID_ARGUMENT",
                violations=violations,
            )
        assert isinstance(message, dict)  # shape_errors() refused anything else
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if token in self.hold_tokens or (
            self.hold_after is not None and len(self.accepted) >= self.hold_after
        ):
            if self._release is None or self._release.is_set():
                self._release = asyncio.Event()
            self.held += 1
            await self._release.wait()
            if self._drop_held:
                return _error(503, "UNAVAILABLE", "The service is currently unavailable.")
        if self.drop_next > 0:
            self.drop_next -= 1
            await self._cut(request)
            return Response(status_code=CUT)
        if self.quota_burst > 0:
            self.quota_burst -= 1
            return _error(
                429,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded.",
                "QUOTA_EXCEEDED",
                headers={"Retry-After": str(self.retry_after_s)},
            )
        if self.unavailable_rate and self._rng.random() < self.unavailable_rate:
            return _error(
                503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE"
            )
        if token in self.scripted:
            status, answer, headers = self.scripted[token]
            if isinstance(answer, bytes):
                return Response(answer, status, headers=headers)
            return JSONResponse(answer, status, headers=headers)
        if token in self.third_party_auth_for:
            return _error(
                401,
                "UNAUTHENTICATED",
                "Auth error from APNS or Web Push Service",
                "THIRD_PARTY_AUTH_ERROR",
            )
        if token in self.bad_payload_for:
            return _error(
                400,
                "INVALID_ARGUMENT",
                "Request contains an invalid argument.",
                "INVALID_ARGUMENT",
                violations=[("message.android.ttl", "Invalid duration")],
            )
        if token in self.invalid_tokens:
            return _error(
                400,
                "INVALID_ARGUMENT",
                "The registration token is not a valid FCM registration token",
                "INVALID_ARGUMENT",
                violations=[("message.token", "Invalid registration token")],
            )
        if token in self.unregistered:
            return _error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
        name = f"projects/{self.project_id}/messages/{secrets.token_hex(8)}"
        if body.get("validate_only"):
            self.validated += 1  # a dry run: FCM checks and answers, the phone gets nothing
        else:
            self.accepted.append(message)
            self.accepted_at.append(time.time())
        return JSONResponse({"name": name})

    async def _cut(self, request: Request) -> None:
        """Close this request's connection unanswered, as a network cut would."""
        assert self._server is not None
        assert request.client is not None
        peer = (request.client.host, request.client.port)
        connections = self._server.server_state.connections
        cut = [c for c in connections if getattr(c, "client", None) == peer]
        if not cut:
            raise RuntimeError(f"the fake FCM cannot find the connection from {peer}")
        for connection in cut:
            connection.transport.abort()
        await asyncio.sleep(0)  # uvicorn learns it is gone, and writes no answer

    async def _stats(self, _request: Request) -> Response:
        return JSONResponse(
            {
                "accepted": len(self.accepted),
                "distinct_tokens": len({m["token"] for m in self.accepted}),
                "first_accepted_at": self.accepted_at[0] if self.accepted_at else None,
                "last_accepted_at": self.accepted_at[-1] if self.accepted_at else None,
                "answers": {str(k): v for k, v in self.answers.items()},
            }
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--credentials", type=Path, required=True)
    args = parser.parse_args()
    fake = FakeFCM().start(args.port)
    fake.service_account(args.credentials)
    print(fake.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
