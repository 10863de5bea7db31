"""Polling CAP sources: due sources claimed, fetched safely, their documents taken in.

A source is due at its `next_poll_at`; claiming it sets a lease (`FOR UPDATE SKIP
LOCKED` on PostgreSQL, so two workers never poll one source at once; SQLite has one
poller, in the API process). Its URL is fetched through `app.outbound` (the webhooks'
SSRF guard, judged again at every fetch and on the very addresses connected to; no
redirects; at most NW_CAP_MAX_BYTES read) with `If-None-Match` / `If-Modified-Since`:
a 304 costs nothing more. An index's new links are fetched the same way, each document
taken in by `ingest.take_in` in a transaction of its own, with no transaction open
while anything is fetched. A failure (refused, unreachable, an error status, too
large, not a feed) is recorded on the source and its next poll put off, doubling from
NW_CAP_POLL_SECONDS up to NW_CAP_MAX_BACKOFF_S (or as its Retry-After asks); the first
success puts it back on its interval.

`Poller.poll_due(now)` is one pass, with the clock given: the tests drive it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.db import utcnow
from app.integrations.cap_in import ingest
from app.integrations.cap_in.feeds import read_index, sent_of
from app.integrations.cap_in.models import CapDocument, CapSource, Outcome
from app.integrations.cap_in.parse import Invalid
from app.outbound.guard import Policy, Refused
from app.outbound.http import Answer, OutboundClient
from app.settings import Settings

log = logging.getLogger("app.cap_in")

USER_AGENT = "Neighbourwatch-CAP/1.0"
ACCEPT = (
    "application/cap+xml, application/atom+xml, application/rss+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.7"
)
# Long enough for a slow feed's whole pass; a poller that dies lets it run out.
LEASE = timedelta(minutes=5)
CLAIM_BATCH = 10
# Linked documents fetched per source and pass; the rest wait for the next pass.
NEW_LINKS_PER_PASS = 50
FETCH_TIMEOUT = aiohttp.ClientTimeout(total=30.0, connect=5.0, sock_read=15.0)


def policy_of(settings: Settings) -> Policy:
    return Policy.parse(settings.cap_allowed_hosts, settings.cap_allow_http)


class FetchFailed(Exception):
    def __init__(
        self,
        reason: str,
        status: int | None = None,
        retry_after_s: int | None = None,
        *,
        final: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after_s = retry_after_s
        # Asking again would get the same answer: refused, too large, a 4xx.
        self.final = final or (status is not None and 400 <= status < 500 and status != 429)


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    url: str
    etag: str | None
    last_modified: str | None
    failures: int


class Poller:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        client: OutboundClient | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.client = client or OutboundClient(
            policy_of(settings), timeout=FETCH_TIMEOUT, max_read=settings.cap_max_bytes
        )
        self.interval = timedelta(seconds=settings.cap_poll_seconds)

    async def close(self) -> None:
        await self.client.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll due sources until `stop` is set, looking again every few seconds."""
        idle_s = min(5.0, self.settings.cap_poll_seconds / 2)
        while not stop.is_set():
            try:
                polled = await self.poll_due(stop=stop)
            except Exception:  # the database away: polling must not stop the process
                log.exception("CAP poll failed")
                polled = 0
            if not polled:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=idle_s)

    async def poll_due(self, now: datetime | None = None, stop: asyncio.Event | None = None) -> int:
        """One pass: every due source (a batch at a time) polled once. Returns how many.
        Stopping, it finishes the source in hand; the others' leases run out."""
        now = now or utcnow()
        total = 0
        while not (stop and stop.is_set()) and (claimed := await self._claim(now)):
            for source in claimed:
                if stop and stop.is_set():
                    break
                await self._poll(source, now)
                total += 1
        return total

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session, session.begin():
            yield session

    async def _claim(self, now: datetime) -> list[Claimed]:
        async with self._writing() as session:
            stmt = (
                select(CapSource)
                .where(
                    col(CapSource.next_poll_at) <= now,
                    or_(col(CapSource.lease_until).is_(None), col(CapSource.lease_until) < now),
                )
                .order_by(col(CapSource.next_poll_at))
                .limit(CLAIM_BATCH)
            )
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            sources = list((await session.execute(stmt)).scalars().all())
            for source in sources:
                source.lease_until = now + LEASE
            return [Claimed(s.id, s.url, s.etag, s.last_modified, s.failures) for s in sources]

    async def _poll(self, source: Claimed, now: datetime) -> None:
        headers = {"Accept": ACCEPT, "User-Agent": USER_AGENT}
        if source.etag:
            headers["If-None-Match"] = source.etag
        if source.last_modified:
            headers["If-Modified-Since"] = source.last_modified
        try:
            answer = await self._fetch(source.url, headers)
            if answer.status == 304:
                await self._succeeded(source, now, answer, changed=False)
                return
            index = read_index(answer.body, source.url)
        except FetchFailed as failed:
            await self._failed(source, now, failed)
            return
        except Invalid as exc:
            await self._failed(source, now, FetchFailed(f"not a CAP source: {exc}", 200))
            return
        except Exception as exc:  # a bad source must not stop the pass
            log.exception("CAP source poll failed", extra={"source_id": str(source.id)})
            await self._failed(source, now, FetchFailed(f"{exc.__class__.__name__}: {exc}"))
            return
        if index.kind == "cap":
            await self._take_in(source, source.url, answer.body)
        else:
            await self._follow(source, index.links)
        await self._succeeded(source, now, answer, changed=True)

    async def _fetch(self, url: str, headers: dict[str, str]) -> Answer:
        try:
            answer = await self.client.get(url, headers)
        except Refused as exc:
            raise FetchFailed(f"refused: {exc.reason}", final=True) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise FetchFailed(f"unreachable: {exc.__class__.__name__}: {exc}"[:500]) from exc
        if answer.status not in (200, 304):
            raise FetchFailed(f"HTTP {answer.status}", answer.status, _retry_after(answer.headers))
        if answer.truncated:
            raise FetchFailed(
                f"the answer is larger than {self.settings.cap_max_bytes:,} bytes",
                answer.status,
                final=True,
            )
        return answer

    async def _follow(self, source: Claimed, links: list[str]) -> None:
        """Fetch and take in the index's links this source has not logged yet."""
        async with self.sessionmaker() as session:
            rows = await session.execute(
                select(col(CapDocument.url)).where(
                    col(CapDocument.source_id) == source.id, col(CapDocument.url).in_(links)
                )
            )
            known = set(rows.scalars().all())
        fresh = [link for link in links if link not in known][:NEW_LINKS_PER_PASS]
        fetched: list[tuple[str, bytes]] = []
        for link in fresh:
            try:
                answer = await self._fetch(link, {"Accept": ACCEPT, "User-Agent": USER_AGENT})
            except FetchFailed as failed:
                if failed.final:  # logged, so that it is not fetched again
                    await self._log(source, link, failed.reason)
                # Otherwise (unreachable, 5xx) it is tried again at the next poll.
                continue
            fetched.append((link, answer.body))
        # Oldest first, whatever order the feed lists them in (newest first, usually): an
        # alert is taken in before the update that references it.
        for link, body in sorted(fetched, key=lambda pair: sent_of(pair[1])):
            await self._take_in(source, link, body)

    async def _log(self, source: Claimed, url: str, reason: str) -> None:
        async with self._writing() as session:
            row = await session.get(CapSource, source.id)
            if row is not None and not await ingest.seen(session, source.id, _url_digest(url)):
                await ingest.log_document(
                    session, row, url, url.encode(), ingest.Decision(Outcome.refused, reason)
                )

    async def _take_in(self, source: Claimed, url: str, document: bytes) -> None:
        try:
            async with self._writing() as session:
                row = await session.get(CapSource, source.id)
                if row is None:  # deleted while it was being polled
                    return
                await ingest.take_in(session, self.settings, row, url, document)
        except Exception:  # one document must not hold the others back
            log.exception("CAP document could not be taken in", extra={"url": url})

    async def _succeeded(
        self, source: Claimed, now: datetime, answer: Answer, *, changed: bool
    ) -> None:
        values: dict[str, object] = {
            "lease_until": None,
            "last_polled_at": now,
            "last_success_at": now,
            "last_status": answer.status,
            "last_error": None,
            "failures": 0,
            "next_poll_at": now + self.interval,
        }
        if changed:
            values["etag"] = (_header(answer.headers, "ETag") or "")[:512] or None
            values["last_modified"] = (_header(answer.headers, "Last-Modified") or "")[:64] or None
        await self._record(source.id, values)

    async def _failed(self, source: Claimed, now: datetime, failed: FetchFailed) -> None:
        failures = source.failures + 1
        wait_s = min(
            self.settings.cap_poll_seconds * 2 ** min(failures, 20),
            self.settings.cap_max_backoff_s,
        )
        if failed.retry_after_s is not None:
            wait_s = min(max(wait_s, failed.retry_after_s), self.settings.cap_max_backoff_s)
        log.warning(
            "CAP source failed",
            extra={"source_id": str(source.id), "reason": failed.reason, "failures": failures},
        )
        await self._record(
            source.id,
            {
                "lease_until": None,
                "last_polled_at": now,
                "last_status": failed.status,
                "last_error": failed.reason[:2000],
                "failures": failures,
                "next_poll_at": now + timedelta(seconds=wait_s),
            },
        )

    async def _record(self, source_id: uuid.UUID, values: dict[str, object]) -> None:
        async with self._writing() as session:
            await session.execute(
                update(CapSource).where(col(CapSource.id) == source_id).values(**values)
            )


def _url_digest(url: str) -> str:
    return ingest.digest(url.encode())


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _retry_after(headers: Mapping[str, str]) -> int | None:
    """Retry-After in seconds (its HTTP-date form is not worth a parser here)."""
    value = (_header(headers, "Retry-After") or "").strip()
    return int(value) if value.isdigit() else None


async def run_poller(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], stop: asyncio.Event
) -> None:
    """The poller until `stop` is set (beside the dispatcher, in the same process)."""
    poller = Poller(sessionmaker, settings)
    try:
        await poller.run(stop)
    finally:
        await poller.close()
