"""A grid key for point collections written in bulk (police.uk's crimes, app.evidence).

The geo index's R*Tree (SQLite) or GiST (PostGIS) entry costs more to insert than the
row it indexes: importing a force's year went at a fifth of a bare insert's rate. For
points alone a cheaper key does as well: the point's cell on a grid of
1/CELLS_PER_DEGREE degrees, an integer in a B-tree index on the collection's own table.
A box's candidates are then one range of cells per row of the grid it spans (a 50 km
area is about 45 of them, joined as a table of ranges), a superset of the points inside,
which the exact tests of `app.geo.shapes` then decide, as the geo index's are.

Cells are numbered row by row from the south-west corner, so that a row's cells between
two longitudes are one range. Both a point's cell and a box's ranges are computed here
in the same floating-point steps, and truncation is monotonic: a point on a box's edge
falls inside the box's ranges.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from app.geo.shapes import Box

CELLS_PER_DEGREE = 100  # a cell is about 1.1 km north to south, 0.7 km across at 51°N
_ROW = 360 * CELLS_PER_DEGREE + 1  # cells per row, the one at lon 180 included
# Past this many ranges a query is one range from the first to the last (every longitude
# of those rows): a safety net only, as a validated area (10° across at most) spans some
# 2,000 rows at most, and a tall, thin one must not read whole rows of the world.
MAX_RANGES = 5_000


def _row(lat: float) -> int:
    return int((min(max(lat, -90.0), 90.0) + 90.0) * CELLS_PER_DEGREE)


def _column(lon: float) -> int:
    return int((min(max(lon, -180.0), 180.0) + 180.0) * CELLS_PER_DEGREE)


def cell(lon: float, lat: float) -> int:
    """The grid cell of a point (lon, lat in degrees)."""
    return _row(lat) * _ROW + _column(lon)


def cell_ranges(boxes: Iterable[Box]) -> list[tuple[int, int]]:
    """Inclusive ranges of cells holding every point inside any of `boxes` (west, south,
    east, north; a box does not cross the antimeridian: shapes split theirs), merged."""
    spans: list[tuple[int, int]] = []
    for west, south, east, north in boxes:
        first, last = _column(west), _column(east)
        for row in range(_row(south), _row(north) + 1):
            spans.append((row * _ROW + first, row * _ROW + last))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for low, high in spans:
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    if len(merged) > MAX_RANGES:
        return [(merged[0][0], merged[-1][1])]
    return merged


def cell_join(column: str, boxes: Iterable[Box], dialect: str) -> tuple[str, str, dict[str, Any]]:
    """The ranges of `boxes` as a table `r` to join (a FROM item), the ON condition that
    matches `column` (a cell) to them, and the bound parameters: one or two, however many
    ranges, where an OR of BETWEENs would reach SQLite's expression depth limit (1000)
    for a tall, thin area. Each range is then one seek of the cell's index."""
    ranges = cell_ranges(boxes)
    if dialect == "postgresql":
        return (
            "unnest(CAST(:cell_lo AS bigint[]), CAST(:cell_hi AS bigint[])) AS r(lo, hi)",
            f"{column} BETWEEN r.lo AND r.hi",
            {"cell_lo": [low for low, _ in ranges], "cell_hi": [high for _, high in ranges]},
        )
    return (
        "json_each(:cell_ranges) AS r",
        f"{column} BETWEEN json_extract(r.value, '$[0]') AND json_extract(r.value, '$[1]')",
        {"cell_ranges": json.dumps(ranges)},
    )
