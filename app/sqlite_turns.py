"""SQLite writers of this process take turns: urgent ones first, then first come first served.

Left to SQLite, a writer that finds the lock taken sleeps in its busy handler (1, 2,
5, 10 ... 100 ms) and tries again, so under load the lock stays free between holders
while the next one sleeps, and an unlucky one waits seconds (bench/incidents.py: p99
2.6 s; the dispatcher's expansion, taking the lock again right after each slice, held
off its senders: a first push 4.4 s after the POST). Here a transaction waits for its
turn before BEGIN IMMEDIATE and holds it until its COMMIT or ROLLBACK has returned.
Other processes still meet the busy handler.

Urgent turns (the push dispatcher's) go ahead of waiting requests: in plain arrival
order, each of the dispatcher's transactions queued behind every request in flight, and
under a sustained stream of reports it fell behind by the whole stream (10 s of
bench/incidents.py load: 23 of 2,492 events handled, the rest 12 s later).
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections import deque
from typing import Any

from sqlalchemy.util import await_

_TURN = "nw_write_turn"


class _Turns:
    """One event loop's turn and who waits for it."""

    def __init__(self) -> None:
        self.held = False
        self.waiting: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (
            deque(),  # urgent
            deque(),
        )

    async def acquire(self, urgent: bool, timeout_s: float) -> None:
        if not self.held and not any(self.waiting):
            self.held = True
            return
        handed = asyncio.get_running_loop().create_future()
        queue = self.waiting[0 if urgent else 1]
        queue.append(handed)
        try:
            async with asyncio.timeout(timeout_s):
                await handed
        except BaseException:
            if handed.done() and not handed.cancelled():
                self.release()  # handed over as we gave up: pass it on
            else:
                handed.cancel()
                if handed in queue:
                    queue.remove(handed)
            raise

    def release(self) -> None:
        for queue in self.waiting:
            while queue:
                handed = queue.popleft()
                if not handed.done():
                    handed.set_result(None)  # still held: it changes hands
                    return
        self.held = False


class WriteTurns:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        # One queue per event loop: tests run several loops against one engine.
        self._turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turns] = (
            weakref.WeakKeyDictionary()
        )

    def take(self, info: dict[str, Any], urgent: bool = False) -> None:
        """Wait for the turn (from the greenlet that runs the BEGIN)."""
        if _TURN in info:
            return  # still held: its BEGIN failed, and no ROLLBACK has given it back yet
        turns = self._turns.setdefault(asyncio.get_running_loop(), _Turns())
        try:
            await_(turns.acquire(urgent, self.timeout_s))
        except TimeoutError:
            # What SQLite's busy handler would have said after as long.
            raise sqlite3.OperationalError("database is locked") from None
        info[_TURN] = turns


def give_back(info: dict[str, Any]) -> None:
    """Give back the turn held under `info`, if any (safe to call more than once)."""
    turns = info.pop(_TURN, None)
    if turns is not None:
        turns.release()
