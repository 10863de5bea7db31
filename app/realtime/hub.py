"""Live events for the WebSocket connections of one API process.

The hub follows the event log in its global seq order (woken by the bus, and polling as
a safety net) and offers each row to the connections of its user, numbered with the
user's own seq: the global one never leaves the hub (app.realtime.log). A user's own
numbers grow in the log's order, so a connection orders and skips by them alone. A
connection holds live events back while it replays what its client missed, then lets
them through, skipping what the replay already sent: no gap, no duplicate, in seq order.
A connection whose queue is full is too slow; it is closed (1013) and its client resumes
later from the log. A user holds at most `per_user` connections in a process: one more
closes their oldest (1008); across processes, `seats` does the same
(app/realtime/seats.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.db import reading
from app.metrics import Metrics
from app.outbox.models import OutboxEvent
from app.realtime import log as event_log
from app.realtime.bus import Bus
from app.realtime.seats import LocalSeats, Seats

logger = logging.getLogger("app.realtime")

PING = json.dumps({"type": "ping"})
RESET = json.dumps({"type": "reset"})
PULL_PAGE = 5_000
_opened = itertools.count()


def frame_head(event_type: str, at: datetime, data: dict[str, Any]) -> str:
    """Everything of an event frame but its seq, which differs per user."""
    return json.dumps({"type": event_type, "at": at.isoformat(), "data": data})[1:]


def frame(seq: int, head: str) -> str:
    return f'{{"seq": {seq}, {head}'


class Connection:
    def __init__(self, user_id: uuid.UUID, queue_size: int, expires_at: float) -> None:
        self.user_id = user_id
        self.key = str(user_id)
        self.queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self.expires_at = expires_at
        self.last_seq = 0  # the user's own seq of the newest event handed to the queue
        self.opened = next(_opened)  # the order connections were added in
        self.uid = uuid.uuid4().hex  # its seat among the user's connections in every process
        self.too_slow = asyncio.Event()
        self.replaced = asyncio.Event()  # closed for a newer one of the same user
        self.revoked = asyncio.Event()  # closed because its account was erased
        # Ends the connection's sending (set by its endpoint), which may be stuck sending.
        self.on_stop: Callable[[], object] | None = None
        self._held: list[tuple[int, str]] | None = []  # None once live
        self._hold_limit = queue_size * 4

    def _slow(self) -> None:
        if not self.too_slow.is_set():
            self.too_slow.set()
            self._stop()

    def _stop(self) -> None:
        if self.on_stop is not None:
            self.on_stop()

    def replace(self) -> None:
        """Close this connection: its user opened one more than they may hold."""
        if not self.replaced.is_set():
            self.replaced.set()
            self._stop()

    def revoke(self) -> None:
        """Close this connection: its account is gone."""
        if not self.revoked.is_set():
            self.revoked.set()
            self._stop()

    def offer(self, seq: int, text: str) -> None:
        """A live event: never waits; a full queue means the client is too slow."""
        if seq <= self.last_seq or self.too_slow.is_set():
            return
        if self._held is not None:
            self._held.append((seq, text))
            if len(self._held) > self._hold_limit:
                self._slow()
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self._slow()
            return
        self.last_seq = seq

    async def put(self, seq: int, text: str) -> None:
        """A replayed event: waits for room (the sender is draining the queue)."""
        if seq > self.last_seq:
            await self.queue.put(text)
            self.last_seq = seq

    def control(self, text: str) -> None:
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self._slow()

    def go_live(self) -> None:
        held, self._held = self._held or [], None
        for seq, text in sorted(held):
            self.offer(seq, text)


class Hub:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        bus: Bus,
        metrics: Metrics,
        *,
        poll_s: float = 2.0,
        per_user: int = 10,
        seats: Seats | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.bus = bus
        self.metrics = metrics
        self.poll_s = poll_s
        self.per_user = per_user
        self.seats: Seats = seats or LocalSeats()
        self.connections: dict[str, set[Connection]] = {}
        self._by_uid: dict[str, Connection] = {}
        self.tail = 0  # the newest global seq offered to connections (internal)
        self._news = asyncio.Event()
        self._heads: dict[uuid.UUID, str] = {}
        self.lookups = asyncio.Semaphore(8)  # account lookups of connections signing in
        self._delivered_at = 0.0  # monotonic: when events were last offered

    def add(self, connection: Connection) -> None:
        users = self.connections.setdefault(connection.key, set())
        while len(users) >= self.per_user:
            oldest = min(users, key=lambda c: c.opened)
            self.remove(oldest)
            oldest.replace()
            users = self.connections.setdefault(connection.key, set())
        users.add(connection)
        self._by_uid[connection.uid] = connection
        self.metrics.ws_connections.inc()

    def remove(self, connection: Connection) -> None:
        users = self.connections.get(connection.key)
        if users is not None and connection in users:
            users.discard(connection)
            self._by_uid.pop(connection.uid, None)
            if not users:
                del self.connections[connection.key]
            self.metrics.ws_connections.dec()

    def evict(self, uid: str) -> None:
        """Another process (or this one) gave this connection's seat to a newer one."""
        connection = self._by_uid.get(uid)
        if connection is not None:
            self.remove(connection)
            connection.replace()

    def revoke(self, user_id: str) -> None:
        """Close every connection of this user in this process."""
        for connection in list(self.connections.get(user_id, ())):
            self.remove(connection)
            connection.revoke()

    async def revoke_everywhere(self, user_id: uuid.UUID) -> None:
        """Close every connection of this user, in this process and every other."""
        self.revoke(str(user_id))
        await self.seats.revoke(user_id)

    async def _collect_when_idle(self) -> None:
        """A full garbage collection walks every live object: with thousands of open
        connections it took 0.6 s, and it tends to fall in the middle of a fan-out (the
        fan-out allocates). So collect while nothing is being delivered, then freeze
        what survived: later collections skip the long-lived connections. Unfreezing
        first lets cycles among closed connections be collected too."""
        frozen_at, frozen_count = time.monotonic(), 0
        while True:
            await asyncio.sleep(1.0)
            count = sum(len(c) for c in self.connections.values())
            grown = abs(count - frozen_count) >= max(500, frozen_count // 10)
            stale = time.monotonic() - frozen_at > 300
            idle = time.monotonic() - self._delivered_at > 1.0
            if idle and (grown or stale):
                gc.unfreeze()
                gc.collect()
                gc.freeze()
                frozen_at, frozen_count = time.monotonic(), count

    async def run(self) -> None:
        listening = asyncio.create_task(self.bus.listen(self._news.set))
        evicting = asyncio.create_task(self.seats.listen(self.evict, self.revoke))
        collecting = asyncio.create_task(self._collect_when_idle())
        started = False
        try:
            while True:
                if not started:  # live from now: what came before is for `resume`
                    try:
                        async with reading(self.sessionmaker) as session:
                            self.tail = await event_log.newest(session)
                        started = True
                    except Exception:  # not migrated yet, or the database is away
                        logger.warning("event log unreadable; retrying", exc_info=True)
                        await asyncio.sleep(self.poll_s)
                        continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._news.wait(), self.poll_s)
                self._news.clear()
                try:
                    await self._pull()
                except Exception:  # the database is away: try again on the next round
                    logger.exception("could not read the event log")
        finally:
            listening.cancel()
            evicting.cancel()
            collecting.cancel()

    async def _pull(self) -> None:
        while True:
            async with reading(self.sessionmaker) as session:
                rows = await event_log.after(session, self.tail, PULL_PAGE)
                await self._load_heads(session, {row[2] for row in rows})
            for _, user_seq, event_id, user_id in rows:
                connections = self.connections.get(str(user_id))
                head = self._heads.get(event_id)
                if connections and head is not None:
                    text = frame(user_seq, head)
                    for connection in tuple(connections):
                        connection.offer(user_seq, text)
            if rows:
                self.tail = rows[-1][0]
                self._delivered_at = time.monotonic()
            if len(rows) < PULL_PAGE:
                return

    async def _load_heads(self, session: AsyncSession, event_ids: set[uuid.UUID]) -> None:
        missing = event_ids - set(self._heads)
        if not missing:
            return
        if len(self._heads) > 10_000:
            self._heads.clear()
        found = await session.execute(
            select(
                col(OutboxEvent.id),
                col(OutboxEvent.event_type),
                col(OutboxEvent.created_at),
                col(OutboxEvent.realtime),
            ).where(col(OutboxEvent.id).in_(missing))
        )
        for event_id, kind, at, data in found.all():
            self._heads[event_id] = frame_head(kind, at, data or {})

    async def resume(self, connection: Connection, since: int | None) -> None:
        """Replay what the client missed after `since` (or say `reset` when the log no
        longer holds it), then let live events through."""
        try:
            if since is None:
                return
            async with reading(self.sessionmaker) as session:
                if not await event_log.holds(session, connection.user_id, since):
                    connection.control(RESET)
                    return
            connection.last_seq = since
            while True:
                async with reading(self.sessionmaker) as session:
                    entries = await event_log.replay(session, connection.user_id, since)
                for entry in entries:
                    head = frame_head(entry.event_type, entry.at, entry.data)
                    await connection.put(entry.seq, frame(entry.seq, head))
                    since = entry.seq
                if len(entries) < event_log.REPLAY_PAGE:
                    return
        finally:
            connection.go_live()
