"""`nwatch import-police-data`: police.uk files into `police_crimes`.

Rows are read as a stream (app.evidence.police_data) and written BATCH at a time, each
batch its own transaction, so memory stays flat however long the file and requests keep
being served on SQLite meanwhile. A force's month already imported is replaced: the
first time a (force, month) turns up in an import, what was there is deleted, in the
transaction of that batch. Files from the API (no force) replace by month among the
API's rows.

A crime is found by its cell on a grid (app.geo.grid), a column of its row: an entry in
the geo index's tree would cost more to write than the row itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import ordered_hex_ids, utcnow
from app.evidence.models import PoliceCrime
from app.evidence.police_data import PoliceCrime as Row
from app.evidence.police_data import Skipped, read
from app.geo.grid import cell

BATCH = 5_000
_TABLE = PoliceCrime.__table__

Key = tuple[str | None, date]  # force, month


@dataclass
class Summary:
    rows: int = 0
    replaced: int = 0
    months: set[date] = field(default_factory=set)
    forces: set[str] = field(default_factory=set)
    skipped: Skipped = field(default_factory=Skipped)

    def lines(self) -> list[str]:
        months = sorted(self.months)
        span = f"{months[0]:%Y-%m} to {months[-1]:%Y-%m}" if months else "none"
        out = [
            f"rows: {self.rows}",
            f"months: {len(months)} ({span})",
            f"forces: {len(self.forces)}"
            + (f" ({', '.join(sorted(self.forces))})" if self.forces else ""),
            f"replaced: {self.replaced} rows of months imported before",
            f"skipped: {self.skipped.total}",
        ]
        out += [f"  {reason}: {n}" for reason, n in sorted(self.skipped.reasons.items())]
        return out


def _batches(rows: Iterable[Row]) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, BATCH)):
        yield batch


async def import_files(
    sessionmaker: async_sessionmaker[AsyncSession],
    paths: list[Path],
    progress: Callable[[int], None] | None = None,
) -> Summary:
    summary = Summary()
    seen: set[Key] = set()
    for path in paths:
        with path.open("rb") as stream:
            for batch in _batches(read(stream, path.name, summary.skipped)):
                async with sessionmaker() as session, session.begin():
                    fresh = {(r.force, r.month) for r in batch} - seen
                    for key in sorted(fresh, key=lambda k: (k[0] or "", k[1])):
                        summary.replaced += await _forget(session, key)
                    seen |= fresh
                    await _write(session, batch)
                summary.rows += len(batch)
                summary.months.update(r.month for r in batch)
                summary.forces.update(r.force for r in batch if r.force)
                if progress is not None:
                    progress(summary.rows)
    return summary


async def _forget(session: AsyncSession, key: Key) -> int:
    force, month = key
    c = _TABLE.c
    match = (c.month == month) & (c.force.is_(None) if force is None else c.force == force)
    result = await session.execute(delete(_TABLE).where(match))
    return int(getattr(result, "rowcount", 0) or 0)


_SQLITE_INSERT = (
    "INSERT INTO police_crimes"
    " (id, month, force, crime_id, crime_type, category, lon, lat, cell, outcome, imported_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# One statement a batch, the columns as arrays (asyncpg sends them binary), where an
# executemany would bind and run the INSERT once per row.
_PG_INSERT = (
    "INSERT INTO police_crimes"
    " (id, month, force, crime_id, crime_type, category, lon, lat, cell, outcome, imported_at)"
    " SELECT t.*, $11::timestamptz FROM unnest($1::uuid[], $2::date[], $3::text[],"
    " $4::text[], $5::text[], $6::text[], $7::float8[], $8::float8[], $9::int8[],"
    " $10::text[]) AS t(id, month, force, crime_id, crime_type, category, lon, lat, cell,"
    " outcome)"
)


def _clip(value: str | None, length: int) -> str | None:
    return value[:length] if value else None


async def _write(session: AsyncSession, batch: list[Row]) -> None:
    """The batch's rows. Straight to the driver, as tuples (SQLite) or arrays (asyncpg
    sends them binary): SQLAlchemy's per-row parameter processing would take as long as
    SQLite's inserts. Ids go as hex, which both SQLite's Uuid column (its stored form)
    and asyncpg (for a uuid) take."""
    connection = await session.connection()
    dialect = connection.dialect
    now = utcnow()
    months: dict[date, Any] = {m: m for m in {r.month for r in batch}}
    imported_at: Any = now
    sqlite = dialect.name != "postgresql"
    if sqlite:  # the values as the column types store them there (ISO text)
        c = _TABLE.c
        day, stamp = (
            col.type.dialect_impl(dialect).bind_processor(dialect)
            for col in (c.month, c.imported_at)
        )
        assert day is not None
        assert stamp is not None
        months, imported_at = {m: day(m) for m in months}, stamp(now)
    rows = [
        (
            i,
            months[r.month],
            _clip(r.force, 80),
            _clip(r.crime_id, 80),
            r.crime_type[:64],
            r.category.value,
            r.lon,
            r.lat,
            cell(r.lon, r.lat),
            _clip(r.outcome, 120),
            imported_at,
        )
        for i, r in zip(ordered_hex_ids(len(batch)), batch, strict=True)
    ]
    if sqlite:
        await connection.exec_driver_sql(_SQLITE_INSERT, rows)
    else:  # one array a column, the time once
        await connection.exec_driver_sql(_PG_INSERT, (*list(zip(*rows, strict=True))[:-1], now))
