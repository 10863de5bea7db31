"""Location fuzzing: snapping a point to the centre of a coarse grid cell.

Deterministic, so the same place always snaps to the same cell centre: repeated
reports from one doorstep all show the same point and cannot be averaged back to it.
"""

from __future__ import annotations

import math

METRES_PER_DEGREE = 111_195.0  # on the sphere of EARTH_RADIUS_M


def snap(lon: float, lat: float, cell_m: float = 250.0) -> tuple[float, float]:
    lat_step = cell_m / METRES_PER_DEGREE
    row = math.floor((lat + 90.0) / lat_step)
    snapped_lat = min(90.0, -90.0 + (row + 0.5) * lat_step)
    # Cells keep roughly cell_m of width at every latitude: the longitude step depends
    # only on the row, so the whole row shares one grid.
    width = max(math.cos(math.radians(snapped_lat)), 1e-6)
    lon_step = min(360.0, cell_m / (METRES_PER_DEGREE * width))
    column = math.floor((lon + 180.0) / lon_step)
    snapped_lon = -180.0 + (column + 0.5) * lon_step
    if snapped_lon > 180.0:
        snapped_lon -= 360.0
    return round(snapped_lon, 6), round(snapped_lat, 6)
