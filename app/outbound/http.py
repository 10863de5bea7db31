"""An HTTP client for URLs that others chose: SSRF-guarded, bounded, never redirected.

Every request is checked by `guard.check_url` first; a host name is then resolved by
`GuardedResolver`, which refuses it unless every address is public and hands aiohttp
those same addresses to connect to (no DNS cache: each request resolves and is judged
again, so a name that has changed since subscription is caught at delivery). Redirects
are not followed, proxies from the environment are not used (a proxy would make the
lookup we judge), timeouts bound connecting and reading, and at most `max_read` bytes
of an answer are read.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from app.outbound.guard import Policy, Refused, check_addresses, check_url

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=15.0, connect=5.0, sock_read=10.0)
MAX_READ = 4096


class GuardedResolver(AbstractResolver):
    """Resolves as the system does, then refuses a name with any forbidden address."""

    def __init__(self, policy: Policy) -> None:
        self._inner = ThreadedResolver()
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        check_addresses(host, port, (r["host"] for r in results), self._policy)
        return results

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes  # the first `max_read` bytes at most
    latency_s: float
    truncated: bool = False  # there was more than `max_read` (told by `get` only)


class OutboundClient:
    """One long-lived session for outbound calls; `post` raises `Refused` for a URL or
    address the policy forbids, and aiohttp's errors (or TimeoutError) when the call
    itself fails."""

    def __init__(
        self,
        policy: Policy,
        *,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        max_read: int = MAX_READ,
        concurrency: int = 100,
    ) -> None:
        self.policy = policy
        self.timeout = timeout
        self.max_read = max_read
        self.concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # made on the running loop, at the first call
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.concurrency,
                    resolver=GuardedResolver(self.policy),
                    use_dns_cache=False,
                ),
                timeout=self.timeout,
                trust_env=False,
                auto_decompress=False,  # a small body that inflates is not ours to inflate
            )
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        check_url(url, self.policy)
        started = time.perf_counter()
        async with self._client().post(
            url, data=body, headers=dict(headers), allow_redirects=False
        ) as response:
            head = await response.content.read(self.max_read)
            return Answer(
                response.status, dict(response.headers), head, time.perf_counter() - started
            )

    async def get(self, url: str, headers: Mapping[str, str]) -> Answer:
        """A GET whose answer is read up to `max_read` bytes; `truncated` says there was
        more. Asks for no content coding: the body is read as it comes, never inflated."""
        check_url(url, self.policy)
        started = time.perf_counter()
        sent = {"Accept-Encoding": "identity", **headers}
        async with self._client().get(url, headers=sent, allow_redirects=False) as response:
            head = await _read_up_to(response.content, self.max_read + 1)
            return Answer(
                response.status,
                dict(response.headers),
                head[: self.max_read],
                time.perf_counter() - started,
                truncated=len(head) > self.max_read,
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _read_up_to(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """At most `limit` bytes: a read returns what has arrived, so it is repeated."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await stream.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


__all__ = ["Answer", "OutboundClient", "Policy", "Refused"]
