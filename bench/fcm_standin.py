"""A stand-in for FCM fast enough not to be what a push benchmark measures.

tests/fakes/fcm.py checks every message's shape and tops out near 9,000 requests/s on
one core (Starlette and uvicorn under it); a bench that pushes faster than that would
measure the fake. This one is an asyncio protocol speaking just enough HTTP/1.1
(keep-alive, Content-Length bodies): Google's OAuth2 token endpoint (the JWT assertion
verified with the service account's public key) and `messages:send`, which checks the
bearer token and answers FCM's JSON, `{"name": ...}`, or a 401 with FCM's error JSON. It
counts what it accepted, and the distinct device tokens, without parsing the JSON
(the token is found in the body by its key).

    python -m bench.fcm_standin --credentials F   # prints its base URL, serves until killed

`GET /_fake/stats` (as the fake's) answers the counts, and when the first and the last
push were accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
import urllib.parse
from pathlib import Path
from typing import Any

import jwt
import uvloop
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.fcm import write_service_account

PROJECT = "nw-bench"
CLIENT_EMAIL = f"push@{PROJECT}.iam.gserviceaccount.com"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
_TOKEN_KEY = b'"token":'
_UNAUTHENTICATED = json.dumps(
    {
        "error": {
            "code": 401,
            "message": "Request had invalid authentication credentials.",
            "status": "UNAUTHENTICATED",
        }
    }
).encode()


class Counts:
    def __init__(self) -> None:
        self.accepted = 0
        self.refused = 0
        self.tokens: set[bytes] = set()
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.access_tokens: set[bytes] = set()
        self.token_requests = 0

    def as_json(self) -> bytes:
        return json.dumps(
            {
                "accepted": self.accepted,
                "refused": self.refused,
                "distinct_tokens": len(self.tokens),
                "first_accepted_at": self.first_at,
                "last_accepted_at": self.last_at,
                "token_requests": self.token_requests,
            }
        ).encode()


def _response(status: str, body: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json; charset=UTF-8\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


class Http(asyncio.Protocol):
    def __init__(self, counts: Counts, key: rsa.RSAPrivateKey, base: str) -> None:
        self.counts = counts
        self.key = key
        self.base = base
        self.buffer = b""
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            length = 0
            authorization = b""
            lines = head.split(b"\r\n")
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                lowered = name.strip().lower()
                if lowered == b"content-length":
                    length = int(value)
                elif lowered == b"authorization":
                    authorization = value.strip()
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, path, _ = lines[0].split(b" ", 2)
            self.transport.write(self.answer(method, path, authorization, body))

    def answer(self, method: bytes, path: bytes, authorization: bytes, body: bytes) -> bytes:
        counts = self.counts
        if method == b"POST" and path.endswith(b"/messages:send"):
            if not authorization.startswith(b"Bearer ") or (
                authorization[7:] not in counts.access_tokens
            ):
                counts.refused += 1
                return _response("401 Unauthorized", _UNAUTHENTICATED)
            at = body.find(_TOKEN_KEY)
            if at >= 0:
                start = body.index(b'"', at + len(_TOKEN_KEY)) + 1
                counts.tokens.add(body[start : body.index(b'"', start)])
            now = time.time()
            counts.accepted += 1
            counts.first_at = counts.first_at or now
            counts.last_at = now
            name = f"projects/{PROJECT}/messages/{counts.accepted}"
            return _response("200 OK", b'{"name": "' + name.encode() + b'"}')
        if method == b"POST" and path == b"/token":
            return self.token(body)
        if method == b"GET" and path == b"/_fake/stats":
            return _response("200 OK", counts.as_json())
        return _response("404 Not Found", b'{"error": {"code": 404, "status": "NOT_FOUND"}}')

    def token(self, body: bytes) -> bytes:
        self.counts.token_requests += 1
        form = urllib.parse.parse_qs(body.decode())
        try:
            jwt.decode(
                form.get("assertion", [""])[0],
                self.key.public_key(),
                algorithms=["RS256"],
                audience=[GOOGLE_TOKEN_AUDIENCE, f"{self.base}/token"],
                issuer=CLIENT_EMAIL,
            )
        except jwt.PyJWTError as exc:
            refusal = {"error": "invalid_grant", "error_description": str(exc)}
            return _response("400 Bad Request", json.dumps(refusal).encode())
        token = "standin-" + secrets.token_urlsafe(24)
        self.counts.access_tokens.add(token.encode())
        answer: dict[str, Any] = {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
        return _response("200 OK", json.dumps(answer).encode())


async def serve(credentials: Path, port: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    counts = Counts()
    loop = asyncio.get_running_loop()
    box: dict[str, str] = {}
    server = await loop.create_server(
        lambda: Http(counts, key, box["base"]), "127.0.0.1", port, backlog=1024
    )
    bound = server.sockets[0].getsockname()[1]
    box["base"] = f"http://127.0.0.1:{bound}"
    write_service_account(credentials, key, PROJECT, CLIENT_EMAIL, f"{box['base']}/token")
    print(box["base"], flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--credentials", type=Path, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.credentials, args.port))


if __name__ == "__main__":
    main()
