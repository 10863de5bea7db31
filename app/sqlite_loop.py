"""SQLite statements run on the event loop's thread, not one hop away on aiosqlite's.

aiosqlite runs every call (cursor, execute, fetchall, close, commit) on a thread of
its own connection and wakes the loop for each answer: about 100 µs of the loop's
time and a wait for its next turn, three or four times per statement, where SQLite
answers our indexed statements in a few microseconds. So those run in place. Work
that may take long keeps the thread, so that the loop goes on serving meanwhile:
statements under `offloaded()` (a large alert's recipients, statistics); COMMIT, which
writes the log and may wait on the disk; and a BEGIN IMMEDIATE that finds another
process holding the write lock: it is tried once in place without waiting, and waits in
SQLite's busy handler only on the thread. (Writers of this process take turns before
it: app.sqlite_turns.) A statement never runs in place while the thread still has work
for the same connection (SQLite connections are not to be used by two threads at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from threading import Thread
from typing import Any

import aiosqlite
from aiosqlite.core import _connection_worker_thread

from app.sqlite_turns import give_back

log = logging.getLogger(__name__)
_offloaded: ContextVar[bool] = ContextVar("nw_sqlite_offloaded", default=False)


@contextlib.contextmanager
def offloaded() -> Iterator[None]:
    """Statements in this block run on the connection's thread (long queries)."""
    token = _offloaded.set(True)
    try:
        yield
    finally:
        _offloaded.reset(token)


def _takes_write_lock(args: tuple[Any, ...]) -> bool:
    # Asked of every statement run in place: only its head is looked at.
    return bool(args) and isinstance(args[0], str) and args[0][:15].upper() in _LOCKING


_LOCKING = ("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")


class _TrackedQueue(queue.SimpleQueue[tuple[Any, Callable[[], Any]]]):
    """aiosqlite's work queue, knowing whether its thread has anything left to do.

    Each counter is written by one thread only; a stale read errs on the safe side
    (the thread looks busy and the next statement queues behind it).
    """

    def __init__(self) -> None:
        self.submitted = 0
        self.completed = 0

    def put_nowait(self, item: tuple[Any, Callable[[], Any]]) -> None:
        future, function = item

        def tracked() -> Any:
            try:
                return function()
            finally:
                self.completed += 1

        self.submitted += 1
        super().put_nowait((future, tracked))

    @property
    def busy(self) -> bool:
        return self.completed != self.submitted


class LoopConnection(aiosqlite.Connection):
    def __init__(
        self,
        connector: Callable[[], sqlite3.Connection],
        iter_chunk_size: int,
        busy_timeout_ms: int,
    ) -> None:
        super().__init__(connector, iter_chunk_size)
        self._busy_timeout_ms = busy_timeout_ms
        # This connection's write turn while a transaction holds it (app.sqlite_turns).
        self.turn: dict[str, Any] = {}
        self._tx = self._tracked = _TrackedQueue()
        self._thread = Thread(target=_connection_worker_thread, args=(self._tx,), daemon=True)

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if _offloaded.get() or self._tracked.busy:
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if _takes_write_lock(args):
            try:
                return self._without_waiting(fn, *args, **kwargs)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                    raise
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        return fn(*args, **kwargs)

    async def commit(self) -> None:
        try:
            with offloaded():  # writes the log; with the WAL checkpoints, the disk may lag
                await super().commit()
        finally:
            give_back(self.turn)

    async def rollback(self) -> None:
        try:
            await super().rollback()
        finally:
            give_back(self.turn)

    def _without_waiting(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self._conn.execute("PRAGMA busy_timeout = 0")
        try:
            return fn(*args, **kwargs)
        finally:
            self._conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")


def loop_connect(database: str, busy_timeout_ms: int) -> LoopConnection:
    """Like `aiosqlite.connect`, for `create_async_engine(async_creator=...)`."""

    def connector() -> sqlite3.Connection:
        # Used from the loop's thread and the connection's own one, never at once.
        return sqlite3.connect(database, timeout=busy_timeout_ms / 1000, check_same_thread=False)

    return LoopConnection(connector, iter_chunk_size=64, busy_timeout_ms=busy_timeout_ms)


@contextlib.asynccontextmanager
async def wal_checkpoints(database: str, every_s: float = 1.0) -> AsyncIterator[None]:
    """Copy the write-ahead log back into the database file every `every_s`, off the loop.

    The engine's connections do not do it themselves (`wal_autocheckpoint=0`): SQLite
    runs it inside whichever COMMIT crosses 1,000 pages, writing and syncing megabytes
    while that transaction keeps its write turn (bench/incidents.py, p99 of the reports:
    0.37 to 1.1 s in five runs; with no checkpoints at all, 0.32 and 0.35 s; this task
    and COMMIT off the loop: 0.34 and 0.43 s). PASSIVE: never waits for readers or writers.
    """
    connection = await asyncio.to_thread(sqlite3.connect, database, check_same_thread=False)
    stop = asyncio.Event()

    async def run() -> None:
        # Stopped between checkpoints, never in one: its thread would go on using the
        # connection while another closed it.
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
            try:
                await asyncio.to_thread(connection.execute, "PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                log.warning("WAL checkpoint failed; trying again", exc_info=True)

    task = asyncio.create_task(run(), name="sqlite-wal-checkpoints")
    try:
        yield
    finally:
        stop.set()
        await asyncio.shield(task)
        await asyncio.to_thread(connection.close)
