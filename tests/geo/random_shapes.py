"""Seeded random shapes for the property tests, biased towards the awkward places."""

from __future__ import annotations

import math
import random

from shapely.geometry import MultiPolygon, Polygon

from app.geo.shapes import Circle, PolygonShape, Shape

# Where bugs live: the poles, both sides of the antimeridian, the equator and meridian.
HOTSPOTS = [
    (0.0, 89.95),
    (0.0, -89.95),
    (179.98, 10.0),
    (-179.98, -10.0),
    (0.0, 0.0),
    (-0.12, 51.5),
]


def random_centre(rng: random.Random) -> tuple[float, float]:
    if rng.random() < 0.6:
        lon0, lat0 = rng.choice(HOTSPOTS)
        lat = max(-90.0, min(90.0, lat0 + rng.uniform(-0.1, 0.1)))
        lon = lon0 + rng.uniform(-0.1, 0.1)
        lon = (lon + 180.0) % 360.0 - 180.0
        return lon, lat
    return rng.uniform(-180, 180), rng.uniform(-89.9, 89.9)


def random_radius(rng: random.Random) -> float:
    # Log-uniform from 1 m to 50 km: tiny and huge radii are both common.
    return math.exp(rng.uniform(math.log(1.0), math.log(50_000.0)))


def random_circle(rng: random.Random) -> Circle:
    lon, lat = random_centre(rng)
    return Circle(lon, lat, 0.0 if rng.random() < 0.1 else random_radius(rng))


def _ring(rng: random.Random, lon: float, lat: float) -> list[tuple[float, float]] | None:
    # A star-shaped ring around the centre, kept on one side of the antimeridian.
    size = math.exp(rng.uniform(math.log(0.0005), math.log(0.3)))
    n = rng.randint(3, 12)
    angles = sorted(rng.uniform(0, 2 * math.pi) for _ in range(n))
    points = []
    for a in angles:
        r = size * rng.uniform(0.3, 1.0)
        plon, plat = lon + r * math.cos(a), lat + r * math.sin(a)
        if not (-180 <= plon <= 180 and -90 <= plat <= 90):
            return None
        points.append((plon, plat))
    return [*points, points[0]]


def random_polygon(rng: random.Random) -> PolygonShape:
    while True:
        lon, lat = random_centre(rng)
        parts = []
        for _ in range(1 if rng.random() < 0.8 else 2):
            ring = _ring(rng, lon + rng.uniform(-0.2, 0.2), lat + rng.uniform(-0.2, 0.2))
            if ring is None:
                break
            parts.append(Polygon(ring))
        else:
            geometry = parts[0] if len(parts) == 1 else MultiPolygon(parts)
            if geometry.is_valid and geometry.area > 0:
                return PolygonShape(geometry)


def random_shape(rng: random.Random, polygon_share: float = 0.3) -> Shape:
    return random_polygon(rng) if rng.random() < polygon_share else random_circle(rng)
