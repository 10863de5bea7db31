"""Snapping: deterministic, coarse, and never far from the truth."""

from __future__ import annotations

import random

from app.geo.privacy import snap
from app.geo.shapes import haversine_m


def test_same_place_snaps_the_same_way_and_stays_within_a_cell() -> None:
    rng = random.Random(7)
    for _ in range(5_000):
        lon, lat = rng.uniform(-180, 180), rng.uniform(-85, 85)
        snapped = snap(lon, lat)
        assert snap(lon, lat) == snapped
        # Within half a cell diagonal (~177 m for 250 m cells), plus rounding.
        assert haversine_m(lon, lat, *snapped) <= 180


def test_nearby_reports_share_a_cell_so_averaging_reveals_nothing() -> None:
    rng = random.Random(8)
    doorstep = (-0.127601, 51.507203)
    cell = snap(*doorstep)
    jittered = {
        snap(doorstep[0] + rng.uniform(-1e-5, 1e-5), doorstep[1] + rng.uniform(-1e-5, 1e-5))
        for _ in range(200)
    }
    # Reports within a metre of each other land on one or two cell centres, never on a
    # cloud of points whose mean is the doorstep.
    assert cell in jittered
    assert len(jittered) <= 2
    assert haversine_m(*doorstep, *cell) > 1


def test_cells_are_about_the_configured_size() -> None:
    a = snap(-0.1, 51.5, 250)
    b = snap(-0.1, 51.5 + 250 / 111_195, 250)
    assert 200 < haversine_m(*a, *b) < 300
