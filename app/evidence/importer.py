"""`nwatch import-police-data`: police.uk files into `police_crimes` and the geo index.

Rows are read as a stream (app.evidence.police_data) and written BATCH at a time, each
batch its own transaction, so memory stays flat however long the file and requests keep
being served on SQLite meanwhile. A force's month already imported is replaced: the
first time a (force, month) turns up in an import, what was there is deleted, rows and
geo entries, in the transaction of that batch. Files from the API (no force) replace by
month among the API's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import utcnow
from app.evidence.models import PoliceCrime
from app.evidence.police_data import PoliceCrime as Row
from app.evidence.police_data import Skipped, read
from app.geo.index import index_for
from app.geo.shapes import Circle

BATCH = 5_000
COLLECTION = "police"
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
    ids = list((await session.execute(select(c.id).where(match))).scalars())
    if ids:
        await index_for(session).remove_many(session, COLLECTION, ids)
        await session.execute(delete(_TABLE).where(match))
    return len(ids)


async def _write(session: AsyncSession, batch: list[Row]) -> None:
    now = utcnow()
    values: list[dict[str, Any]] = [
        {
            "id": uuid.uuid4(),
            "month": r.month,
            "force": r.force[:80] if r.force else None,
            "crime_id": r.crime_id[:80] if r.crime_id else None,
            "crime_type": r.crime_type[:64],
            "category": r.category.value,
            "lon": r.lon,
            "lat": r.lat,
            "outcome": r.outcome[:120] if r.outcome else None,
            "imported_at": now,
        }
        for r in batch
    ]
    await session.execute(insert(_TABLE), values)
    await index_for(session).put_many(
        session,
        COLLECTION,
        [(v["id"], Circle(v["lon"], v["lat"])) for v in values],
        replace=False,
    )
