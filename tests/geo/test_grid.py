"""The grid that finds police.uk's points (app.geo.grid): a shape's cell ranges hold every
point inside its boxes, edges, poles and the antimeridian included, and not much more;
police counts through it match a brute-force count on both databases."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date
from itertools import pairwise
from pathlib import Path

import numpy as np
from fastapi import FastAPI
from shapely.geometry import Polygon

from app.evidence.importer import import_files
from app.evidence.months import Months
from app.evidence.police_data import CSV_HEADER
from app.evidence.service import Periods, police_counts
from app.geo.grid import CELLS_PER_DEGREE, MAX_RANGES, cell, cell_join, cell_ranges
from app.geo.shapes import Box, Circle, PolygonShape, Shape, circles_touching, laea_area_m2
from tests.geo.random_shapes import random_centre, random_shape

STEP = 1.0 / CELLS_PER_DEGREE


def held(ranges: list[tuple[int, int]], point: int) -> bool:
    return any(low <= point <= high for low, high in ranges)


def points_in(rng: random.Random, box: Box) -> list[tuple[float, float]]:
    """Its corners, the middles of its edges, and random points inside."""
    west, south, east, north = box
    edges = [
        (x, y) for x in (west, (west + east) / 2, east) for y in (south, (south + north) / 2, north)
    ]
    inside = [(rng.uniform(west, east), rng.uniform(south, north)) for _ in range(20)]
    return edges + inside


def test_every_point_inside_a_box_is_in_its_cell_ranges() -> None:
    rng = random.Random(20261201)
    for _ in range(400):
        boxes = random_shape(rng, polygon_share=0.3).boxes()
        ranges = cell_ranges(boxes)
        assert ranges == sorted(ranges)
        assert all(a[1] + 1 < b[0] for a, b in pairwise(ranges))  # merged
        for box in boxes:
            for lon, lat in points_in(rng, box):
                assert held(ranges, cell(lon, lat)), (box, lon, lat)


def test_the_world_corners_and_the_antimeridian_have_cells_of_their_own() -> None:
    corners = [cell(-180.0, -90.0), cell(180.0, -90.0), cell(-180.0, 90.0), cell(180.0, 90.0)]
    assert len(set(corners)) == 4
    assert cell(-180.0, -90.0) == 0
    # Both sides of the antimeridian: a box split there finds each side.
    boxes = Circle(179.999, 10.0, 1_000).boxes()
    assert len(boxes) == 2
    ranges = cell_ranges(boxes)
    assert held(ranges, cell(-179.995, 10.0))
    assert held(ranges, cell(179.9995, 10.0))
    assert not held(ranges, cell(0.0, 10.0))
    # Out of range coordinates are clamped, never another row's cells.
    assert cell(-181.0, 10.0) == cell(-180.0, 10.0)
    assert cell(0.0, 91.0) == cell(0.0, 90.0)


def test_the_ranges_reach_no_further_than_the_next_cell() -> None:
    rng = random.Random(7)
    for _ in range(300):
        lon, lat = random_centre(rng)
        boxes = Circle(lon, lat, rng.uniform(1, 20_000)).boxes()
        ranges = cell_ranges(boxes)
        for _ in range(50):
            x, y = rng.uniform(-180, 180), rng.uniform(-90, 90)
            far = all(
                x < w - 2 * STEP or x > e + 2 * STEP or y < s - 2 * STEP or y > n + 2 * STEP
                for w, s, e, n in boxes
            )
            if far:
                assert not held(ranges, cell(x, y)), (boxes, x, y)


def test_a_huge_area_is_one_range_and_the_statement_stays_small() -> None:
    boxes: list[Box] = [(-10.0, -60.0, 10.0, 60.0)]  # 12,000 rows of the grid
    assert cell_ranges(boxes) == [(cell(-10.0, -60.0), cell(10.0, 60.0))]
    # Fifty kilometres square (the largest area allowed): a range per row of cells.
    wide = Circle(-0.12, 51.5, 25_000).boxes()
    assert 40 < len(cell_ranges(wide)) <= MAX_RANGES
    # However many ranges, one parameter (SQLite) or two (PostgreSQL).
    for dialect, names in (("sqlite", {"cell_ranges"}), ("postgresql", {"cell_lo", "cell_hi"})):
        for shape_boxes in (boxes, wide, []):
            _, _, params = cell_join("p.cell", shape_boxes, dialect)
            assert set(params) == names


def test_a_tall_thin_area_reads_its_own_cells_not_whole_rows() -> None:
    """A resident's group may be 10 km² yet 2.5° tall (a 35 m wide strip): its ranges are
    its own cells, one or two a row, never every longitude of those rows."""
    west, east = -1.0, -0.9995
    strip = PolygonShape(
        Polygon([(west, 51.0), (east, 51.0), (east, 53.5), (west, 53.5), (west, 51.0)])
    )
    assert laea_area_m2(strip.geometry) / 1e6 < 10.0  # NW_MAX_UNVERIFIED_AREA_KM2
    rows = round(2.5 * CELLS_PER_DEGREE) + 2  # and the one its box's padding may reach
    read = sum(high - low + 1 for low, high in cell_ranges(strip.boxes()))
    assert read <= 2 * rows, f"{read:,} cells for a box of {2 * rows}"  # not 9 million


async def test_police_counts_match_a_brute_force_count(app: FastAPI, tmp_path: Path) -> None:
    rng = random.Random(12)
    months = ["2024-01", "2024-02", "2024-03"]
    categories = {"Burglary": "burglary", "Vehicle crime": "vehicle_crime"}
    rows = []
    for i in range(3_000):
        lon, lat = random_centre(rng)
        crime_type = rng.choice(list(categories))
        rows.append((round(lon, 6), round(lat, 6), months[i % 3], crime_type))
    lines = [
        f"c{i},{m},F,F,{x:.6f},{y:.6f},On or near X,E01,X,{t},,\n"
        for i, (x, y, m, t) in enumerate(rows)
    ]
    (tmp_path / "points.csv").write_text(CSV_HEADER + "".join(lines))
    assert (await import_files(app.state.sessionmaker, [tmp_path / "points.csv"])).rows == 3_000
    lons = np.array([r[0] for r in rows])
    lats = np.array([r[1] for r in rows])
    periods = Periods.of(Months(date(2024, 1, 1), date(2024, 3, 1)))
    found = 0
    async with app.state.sessionmaker() as session:
        # A tall strip (300 rows of cells, 300 ranges joined) among the random shapes.
        strip = PolygonShape(Polygon([(-0.13, 50.5), (-0.11, 50.5), (-0.11, 53.5), (-0.13, 53.5)]))
        shapes: list[Shape] = [strip, *(random_shape(rng, polygon_share=0.3) for _ in range(60))]
        for shape in shapes:
            inside = circles_touching(shape, lons, lats, np.zeros(len(rows)))
            expected = Counter(
                (r[2], categories[r[3]]) for r, hit in zip(rows, inside, strict=True) if hit
            )
            assert await police_counts(session, shape, periods) == dict(expected), shape
            found += sum(expected.values())
    assert found > 100  # the shapes met the points: the comparison was not of nothing
