"""A grid key for point collections written in bulk (police.uk's crimes, app.evidence).

The geo index's R*Tree (SQLite) or GiST (PostGIS) entry costs more to insert than the
row it indexes: importing a force's year went at a fifth of a bare insert's rate. For
points alone a cheaper key does as well: the point's cell on a grid of
1/CELLS_PER_DEGREE degrees, an integer in a B-tree index on the collection's own table.
A box's candidates are then one range of cells per row of the grid it spans (a 50 km
area is about 45 of them), a superset of the points inside, which the exact tests of
`app.geo.shapes` then decide, as the geo index's are.

Cells are numbered row by row from the south-west corner, so that a row's cells between
two longitudes are one range. Both a point's cell and a box's ranges are computed here
in the same floating-point steps, and truncation is monotonic: a point on a box's edge
falls inside the box's ranges.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.geo.shapes import Box

CELLS_PER_DEGREE = 100  # a cell is about 1.1 km north to south, 0.7 km across at 51°N
_ROW = 360 * CELLS_PER_DEGREE + 1  # cells per row, the one at lon 180 included
# Past this many ranges a query is one range from the first to the last: more rows read,
# a statement of bounded size (an area is limited to NW_MAX_AREA_KM2 well below this).
MAX_RANGES = 200


def _row(lat: float) -> int:
    return int((min(max(lat, -90.0), 90.0) + 90.0) * CELLS_PER_DEGREE)


def _column(lon: float) -> int:
    return int((min(max(lon, -180.0), 180.0) + 180.0) * CELLS_PER_DEGREE)


def cell(lon: float, lat: float) -> int:
    """The grid cell of a point (lon, lat in degrees): `_row` and `_column` written out,
    as it runs once per imported crime."""
    return int((min(max(lat, -90.0), 90.0) + 90.0) * CELLS_PER_DEGREE) * _ROW + int(
        (min(max(lon, -180.0), 180.0) + 180.0) * CELLS_PER_DEGREE
    )


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


def cell_clause(column: str, boxes: Iterable[Box]) -> tuple[str, dict[str, Any]]:
    """A WHERE condition on `column` (a cell) for the points that may lie in `boxes`,
    and its bound parameters (named `cell_lo<n>`, `cell_hi<n>`)."""
    ranges = cell_ranges(boxes)
    if not ranges:
        return "1 = 0", {}
    terms, params = [], {}
    for n, (low, high) in enumerate(ranges):
        terms.append(f"{column} BETWEEN :cell_lo{n} AND :cell_hi{n}")
        params[f"cell_lo{n}"], params[f"cell_hi{n}"] = low, high
    return "(" + " OR ".join(terms) + ")", params
