"""The GeoIndex port and its adapters: SQLite R*Tree, PostGIS GiST, brute-force reference.

Every adapter stores shapes in `geo_entries` and answers in two steps: its index
narrows the candidates by bounding box (conservatively: never losing a match), then the
exact tests of `app.geo.shapes` decide. The reference skips the first step, which is
what the property tests compare the adapters with.
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import raw_uuid
from app.geo.shapes import (
    Box,
    Circle,
    Shape,
    circles_containing,
    circles_touching,
    circles_within,
    contains,
    from_geojson,
    intersects,
)

K = TypeVar("K")

# R*Tree ids are entry id * BOXES_PER_ENTRY + box number: a shape has at most two boxes
# (split at the antimeridian), and its boxes can be found and deleted by id alone.
BOXES_PER_ENTRY = 4

_COLUMNS = "e.object_id, e.kind, e.lon, e.lat, e.radius_m, e.geojson"
# An entry's values as the adapters insert them, in this order (driver-level values: a
# UUID as the backend stores it, GeoJSON as JSON text).
ENTRY_COLUMNS = ("collection", "object_id", "kind", "lon", "lat", "radius_m", "geojson", "owner_id")
Entry = tuple[tuple[Any, ...], list[Box]]


@dataclass(frozen=True)
class Stored:
    object_id: uuid.UUID
    kind: str
    lon: float | None
    lat: float | None
    radius_m: float | None
    geojson: Any

    def shape(self) -> Shape:
        if self.kind == "circle":
            assert self.lon is not None
            assert self.lat is not None
            return Circle(self.lon, self.lat, self.radius_m or 0.0)
        # SQLite's JSON comes back as text through raw SQL; from_geojson takes both.
        return from_geojson(self.geojson)


def _stored(rows: Iterable[Any]) -> list[Stored]:
    out = []
    for row in rows:
        object_id = row[0] if isinstance(row[0], uuid.UUID) else uuid.UUID(str(row[0]))
        out.append(Stored(object_id, row[1], row[2], row[3], row[4], row[5]))
    return out


def _entry(
    collection: str, key: Callable[[uuid.UUID], Any], object_id: uuid.UUID, shape: Shape, owner: Any
) -> Entry:
    if isinstance(shape, Circle):
        values = (collection, key(object_id), "circle", shape.lon, shape.lat, shape.radius_m)
        return (*values, None, owner), shape.boxes()
    lon, lat = shape.anchor
    geojson = json.dumps(shape.to_geojson())
    return (collection, key(object_id), "polygon", lon, lat, None, geojson, owner), shape.boxes()


def _uuid_binder(session: AsyncSession) -> Callable[[uuid.UUID], Any]:
    """How a UUID goes to the driver: what the Uuid type stores (see `raw_uuid`)."""
    if session.get_bind().dialect.name == "sqlite":
        return lambda value: value.hex
    return lambda value: value


class GeoIndex(ABC):
    name: str

    @abstractmethod
    def candidate_clause(self, boxes: list[Box]) -> tuple[str, str, dict[str, Any]]:
        """SQL selecting the entries whose boxes overlap any of `boxes` (a superset of the
        true matches): a FROM part that provides `geo_entries e`, a WHERE condition, and
        their bound parameters.

        Callers on a hot path (recipient resolution) join it with their own tables.
        """

    async def candidates(
        self, session: AsyncSession, collection: str, boxes: list[Box]
    ) -> list[Stored]:
        source, condition, params = self.candidate_clause(boxes)
        result = await session.execute(
            text(f"SELECT {_COLUMNS} FROM {source} WHERE e.collection = :c AND {condition}"),
            {"c": collection, **params},
        )
        return _stored(result.all())

    @abstractmethod
    async def _insert(self, session: AsyncSession, entries: list[Entry]) -> None:
        """Insert entries (ENTRY_COLUMNS values) and their boxes into the index."""

    @abstractmethod
    async def _delete_boxes(self, session: AsyncSession, entry_ids: list[int]) -> None: ...

    async def put(
        self,
        session: AsyncSession,
        collection: str,
        object_id: uuid.UUID,
        shape: Shape,
        owner_id: uuid.UUID | None = None,
    ) -> None:
        """Store (or replace) the shape of one object, in the caller's transaction."""
        await self.put_many(
            session, collection, [(object_id, shape)], owners=[owner_id] if owner_id else None
        )

    async def put_many(
        self,
        session: AsyncSession,
        collection: str,
        items: Sequence[tuple[uuid.UUID, Shape]],
        *,
        replace: bool = True,
        owners: Sequence[uuid.UUID | None] | None = None,
    ) -> None:
        """Store many shapes in a few statements; `replace=False` when all are new.

        Bulk imports (police.uk's crimes, hundreds of thousands) come this way: the rows go
        to the driver as tuples, without SQLAlchemy's per-row parameter processing."""
        if not items:
            return
        if replace:
            await self.remove_many(session, collection, [object_id for object_id, _ in items])
        key = _uuid_binder(session)
        owned = [None if o is None else key(o) for o in owners] if owners else [None] * len(items)
        entries = [
            _entry(collection, key, object_id, shape, owner)
            for (object_id, shape), owner in zip(items, owned, strict=True)
        ]
        await self._insert(session, entries)

    async def remove(self, session: AsyncSession, collection: str, object_id: uuid.UUID) -> None:
        await self.remove_many(session, collection, [object_id])

    async def remove_many(
        self, session: AsyncSession, collection: str, object_ids: Sequence[uuid.UUID]
    ) -> int:
        """Remove many objects' shapes, 500 at a time; how many entries went."""
        removed = 0
        for start in range(0, len(object_ids), 500):
            keys = [raw_uuid(session, o) for o in object_ids[start : start + 500]]
            ids = list(
                (
                    await session.execute(
                        text(
                            "SELECT id FROM geo_entries WHERE collection = :c"
                            " AND object_id IN :keys"
                        ).bindparams(bindparam("keys", expanding=True)),
                        {"c": collection, "keys": keys},
                    )
                )
                .scalars()
                .all()
            )
            if ids:
                await self._delete_boxes(session, ids)
                await session.execute(
                    text("DELETE FROM geo_entries WHERE id IN :ids").bindparams(
                        bindparam("ids", expanding=True)
                    ),
                    {"ids": ids},
                )
                removed += len(ids)
        return removed

    async def intersecting(
        self, session: AsyncSession, collection: str, shape: Shape
    ) -> list[uuid.UUID]:
        """Stored shapes that touch `shape` (for a point: the areas containing it)."""
        rows = await self.candidates(session, collection, shape.boxes())
        return _exact(rows, circles_touching, lambda stored: intersects(shape, stored), shape)

    async def intersecting_each(
        self, session: AsyncSession, collection: str, shapes: Mapping[K, Shape]
    ) -> dict[K, list[uuid.UUID]]:
        """`intersecting` for many shapes (a batch of reports' points), a hundred at a
        time in one search. Each distinct box is searched once: the tree holds every
        collection, so the reports made at one spot are walked once per search of it."""
        out: dict[K, list[uuid.UUID]] = {}
        items = list(shapes.items())
        for start in range(0, len(items), 100):
            chunk = items[start : start + 100]
            boxes = list(dict.fromkeys(box for _, shape in chunk for box in shape.boxes()))
            found = [
                (stored, stored.shape().boxes())
                for stored in await self.candidates(session, collection, boxes)
            ]
            for key, shape in chunk:
                near = [stored for stored, boxes in found if _overlap(shape.boxes(), boxes)]
                out[key] = _exact(near, circles_touching, partial(intersects, shape), shape)
        return out

    async def within(self, session: AsyncSession, collection: str, shape: Shape) -> list[uuid.UUID]:
        """Stored shapes that lie entirely inside `shape`."""
        rows = await self.candidates(session, collection, shape.boxes())
        return _exact(rows, circles_within, lambda stored: contains(shape, stored), shape)

    async def containing(
        self, session: AsyncSession, collection: str, shape: Shape
    ) -> list[uuid.UUID]:
        """Stored areas that contain all of `shape`."""
        rows = await self.candidates(session, collection, shape.boxes())
        return _exact(rows, circles_containing, lambda stored: contains(stored, shape), shape)


def _overlap(a: list[Box], b: list[Box]) -> bool:
    return any(
        aw <= be and bw <= ae and as_ <= bn and bs <= an
        for aw, as_, ae, an in a
        for bw, bs, be, bn in b
    )


CircleTest = Callable[
    [Shape, NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]], NDArray[np.bool_]
]


def _exact(
    rows: Sequence[Stored], circles_test: CircleTest, test: Callable[[Shape], bool], shape: Shape
) -> list[uuid.UUID]:
    """The exact test: vectorised over stored circles (the many), one by one for polygons."""
    circles = [r for r in rows if r.kind == "circle"]
    matched: list[uuid.UUID] = []
    if circles:
        n = len(circles)
        hits = circles_test(
            shape,
            np.fromiter((r.lon for r in circles), float, n),
            np.fromiter((r.lat for r in circles), float, n),
            np.fromiter((r.radius_m or 0.0 for r in circles), float, n),
        )
        matched = [r.object_id for r, hit in zip(circles, hits, strict=True) if hit]
    return matched + [r.object_id for r in rows if r.kind != "circle" and test(r.shape())]


class SQLiteRTreeIndex(GeoIndex):
    name = "sqlite-rtree"

    def candidate_clause(self, boxes: list[Box]) -> tuple[str, str, dict[str, Any]]:
        selects, params = [], {}
        for i, (west, south, east, north) in enumerate(boxes):
            selects.append(
                f"SELECT r.id / {BOXES_PER_ENTRY} AS entry_id FROM geo_rtree r"
                f" WHERE r.min_lon <= :e{i} AND r.max_lon >= :w{i}"
                f" AND r.min_lat <= :n{i} AND r.max_lat >= :s{i}"
            )
            params.update({f"w{i}": west, f"s{i}": south, f"e{i}": east, f"n{i}": north})
        # CROSS JOIN fixes the order in SQLite: the R*Tree drives, entries are looked up
        # by rowid. Left to itself the planner may scan a collection's entries instead.
        source = f"({' UNION '.join(selects)}) AS c CROSS JOIN geo_entries e"
        return source, "e.id = c.entry_id", params

    async def _insert(self, session: AsyncSession, entries: list[Entry]) -> None:
        # R*Tree ids derive from the entries' rowids, so the rowids are chosen here rather
        # than read back: every writing transaction holds SQLite's write lock from its
        # BEGIN IMMEDIATE (app.db), so nobody else can take the ones after the largest.
        connection = await session.connection()
        first: int = (
            await connection.exec_driver_sql("SELECT coalesce(max(id), 0) + 1 FROM geo_entries")
        ).scalar_one()
        await connection.exec_driver_sql(
            f"INSERT INTO geo_entries (id, {', '.join(ENTRY_COLUMNS)})"
            f" VALUES (?, {', '.join('?' * len(ENTRY_COLUMNS))})",
            [(first + n, *values) for n, (values, _) in enumerate(entries)],
        )
        boxes = [
            ((first + n) * BOXES_PER_ENTRY + i, w, e, s, north)
            for n, (_, shape_boxes) in enumerate(entries)
            for i, (w, s, e, north) in enumerate(shape_boxes)
        ]
        if len(boxes) > 1:
            # Neighbours one after the other (strips of latitude, then longitude): the
            # R*Tree then finds its way to pages it has just touched, about a sixth faster
            # for a batch of points than in the order they came.
            boxes.sort(key=lambda b: (round(b[3], 2), b[1]))
        await connection.exec_driver_sql(
            "INSERT INTO geo_rtree (id, min_lon, max_lon, min_lat, max_lat) VALUES (?, ?, ?, ?, ?)",
            boxes,
        )

    async def _delete_boxes(self, session: AsyncSession, entry_ids: list[int]) -> None:
        for entry_id in entry_ids:
            await session.execute(
                text("DELETE FROM geo_rtree WHERE id >= :lo AND id < :hi"),
                {"lo": entry_id * BOXES_PER_ENTRY, "hi": (entry_id + 1) * BOXES_PER_ENTRY},
            )


def boxes_wkt(boxes: list[Box]) -> str:
    polygons = ", ".join(
        f"(({w!r} {s!r}, {e!r} {s!r}, {e!r} {n!r}, {w!r} {n!r}, {w!r} {s!r}))"
        for w, s, e, n in boxes
    )
    return f"MULTIPOLYGON({polygons})"


_PG_CHUNK = 10_000
_PG_INSERT = (
    "INSERT INTO geo_entries"
    " (collection, object_id, kind, lon, lat, radius_m, geojson, owner_id, bbox)"
    " SELECT $1, t.o, t.k, t.x, t.y, t.r, CAST(t.g AS jsonb), t.ow,"
    " CASE WHEN t.wkt IS NULL THEN ST_Multi(ST_MakeEnvelope(t.w, t.s, t.e, t.n, 4326))"
    " ELSE ST_GeomFromText(t.wkt, 4326) END"
    " FROM unnest($2::uuid[], $3::text[], $4::float8[], $5::float8[], $6::float8[],"
    " $7::text[], $8::uuid[], $9::float8[], $10::float8[], $11::float8[], $12::float8[],"
    " $13::text[]) AS t(o, k, x, y, r, g, ow, w, s, e, n, wkt)"
)


class PostGISIndex(GeoIndex):
    name = "postgis-gist"

    def candidate_clause(self, boxes: list[Box]) -> tuple[str, str, dict[str, Any]]:
        return (
            "geo_entries e",
            "e.bbox && ST_GeomFromText(:query_boxes, 4326)",
            {"query_boxes": boxes_wkt(boxes)},
        )

    async def _insert(self, session: AsyncSession, entries: list[Entry]) -> None:
        # One statement per chunk, the columns as arrays (asyncpg sends them binary):
        # an executemany would bind and run the INSERT once per row. A shape of one box
        # gets its envelope directly, one split at the antimeridian its WKT.
        connection = await session.connection()
        for start in range(0, len(entries), _PG_CHUNK):
            chunk = entries[start : start + _PG_CHUNK]
            columns: list[list[Any]] = [list(c) for c in zip(*(v for v, _ in chunk), strict=True)]
            single = [boxes[0] if len(boxes) == 1 else (None,) * 4 for _, boxes in chunk]
            wkt = [None if len(boxes) == 1 else boxes_wkt(boxes) for _, boxes in chunk]
            envelopes = [list(c) for c in zip(*single, strict=True)]
            await connection.exec_driver_sql(
                _PG_INSERT, (columns[0][0], *columns[1:], *envelopes, wkt)
            )

    async def _delete_boxes(self, session: AsyncSession, entry_ids: list[int]) -> None:
        return None  # the bbox column goes with its row


class ReferenceIndex(GeoIndex):
    """Brute force: every entry of the collection is a candidate. For tests and benches.

    `frozen=True` reads each collection once and keeps it, for comparing many queries
    against data that does not change meanwhile.
    """

    name = "reference"

    def __init__(self, frozen: bool = False) -> None:
        self._frozen: dict[str, list[Stored]] | None = {} if frozen else None

    def candidate_clause(self, boxes: list[Box]) -> tuple[str, str, dict[str, Any]]:
        return "geo_entries e", "1 = 1", {}

    async def candidates(
        self, session: AsyncSession, collection: str, boxes: list[Box]
    ) -> list[Stored]:
        if self._frozen is not None and collection in self._frozen:
            return self._frozen[collection]
        rows = await super().candidates(session, collection, boxes)
        if self._frozen is not None:
            self._frozen[collection] = rows
        return rows

    async def _insert(self, session: AsyncSession, entries: list[Entry]) -> None:
        raise NotImplementedError("the reference only reads what an adapter stored")

    async def _delete_boxes(self, session: AsyncSession, entry_ids: list[int]) -> None:
        raise NotImplementedError("the reference only reads what an adapter stored")


def index_for(session: AsyncSession) -> GeoIndex:
    dialect = session.get_bind().dialect.name
    return SQLiteRTreeIndex() if dialect == "sqlite" else PostGISIndex()
