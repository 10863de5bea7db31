"""Shapes on the sphere: circles and polygons, their exact tests and bounding boxes.

Semantics, shared by every index adapter and the brute-force reference:
- a circle is every point within a great-circle distance `radius_m` of its centre;
  a point is a circle of radius 0;
- a polygon is the region RFC 7946 describes: edges straight in lon/lat (shapely);
- circle vs polygon is measured in an azimuthal equidistant projection centred on the
  polygon (distances from that centre are exact great-circle distances; the areas we
  accept span at most a few hundred km, where the projection is true to ~1e-5).

Bounding boxes are conservative (never smaller than the shape), so an index that
narrows by box never loses a true match; the exact test then decides.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius
# A box is (min_lon, min_lat, max_lon, max_lat); a shape near the antimeridian has two.
Box = tuple[float, float, float, float]
_BOX_PAD_DEG = 1e-9  # absorbs floating-point error at the box edges


def haversine_m(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> Any:
    """Great-circle distance in metres; works on floats and numpy arrays alike."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dphi = phi2 - phi1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def aeqd(
    lon0: float, lat0: float, lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Azimuthal equidistant projection (sphere) centred on (lon0, lat0), in metres."""
    phi0, phi = math.radians(lat0), np.radians(lat)
    dlmb = np.radians(lon - lon0)
    cos_c = np.clip(
        math.sin(phi0) * np.sin(phi) + math.cos(phi0) * np.cos(phi) * np.cos(dlmb), -1.0, 1.0
    )
    c = np.arccos(cos_c)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(c < 1e-12, 1.0, c / np.sin(c))
    x = EARTH_RADIUS_M * k * np.cos(phi) * np.sin(dlmb)
    y = (
        EARTH_RADIUS_M
        * k
        * (math.cos(phi0) * np.sin(phi) - math.sin(phi0) * np.cos(phi) * np.cos(dlmb))
    )
    return x, y


def laea_area_m2(geometry: BaseGeometry) -> float:
    """Area in m² via a Lambert azimuthal equal-area projection (sphere) at the centroid."""
    centre = geometry.centroid
    lon0, lat0 = centre.x, centre.y
    phi0 = math.radians(lat0)

    def project(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        phi, dlmb = np.radians(coords[:, 1]), np.radians(coords[:, 0] - lon0)
        denom = 1 + math.sin(phi0) * np.sin(phi) + math.cos(phi0) * np.cos(phi) * np.cos(dlmb)
        k = np.sqrt(2 / np.maximum(denom, 1e-12))
        x = EARTH_RADIUS_M * k * np.cos(phi) * np.sin(dlmb)
        y = (
            EARTH_RADIUS_M
            * k
            * (math.cos(phi0) * np.sin(phi) - math.sin(phi0) * np.cos(phi) * np.cos(dlmb))
        )
        return np.column_stack([x, y])

    return float(shapely.transform(geometry, project).area)


@dataclass(frozen=True)
class Circle:
    lon: float
    lat: float
    radius_m: float = 0.0

    def boxes(self) -> list[Box]:
        pad = _BOX_PAD_DEG
        if self.radius_m == 0.0 and abs(self.lat) < 89.0 and abs(self.lon) < 179.0:
            # A point (police.uk's crimes, by the hundred thousand): what the general
            # case below works out for it, without the trigonometry.
            return [(self.lon - pad, self.lat - pad, self.lon + pad, self.lat + pad)]
        dlat = math.degrees(self.radius_m / EARTH_RADIUS_M)
        south, north = self.lat - dlat, self.lat + dlat
        if north >= 90.0 or south <= -90.0:
            return [(-180.0, max(south - pad, -90.0), 180.0, min(north + pad, 90.0))]
        # The widest longitude reached by a spherical cap (exact, not an approximation).
        ratio = math.sin(self.radius_m / EARTH_RADIUS_M) / math.cos(math.radians(self.lat))
        if ratio >= 1.0:
            return [(-180.0, south, 180.0, north)]
        dlon = math.degrees(math.asin(ratio))
        return _wrap(self.lon - dlon, south, self.lon + dlon, north)

    def to_geojson(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "Point", "coordinates": [self.lon, self.lat]}
        if self.radius_m:
            out["radius_m"] = self.radius_m
        return out


def unwrap(geometry: BaseGeometry) -> BaseGeometry:
    """The geometry with longitudes continuous across the antimeridian.

    A MultiPolygon split at ±180° (as RFC 7946 asks) has bounds spanning the globe;
    shifting its western parts by +360° gives bounds, a centre and an area that mean
    something. Trigonometry does not mind longitudes beyond 180.
    """
    min_lon, _, max_lon, _ = geometry.bounds
    if max_lon - min_lon <= 180.0:
        return geometry

    def shift(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        out = coords.copy()
        out[:, 0] = np.where(out[:, 0] < 0, out[:, 0] + 360.0, out[:, 0])
        return out

    return shapely.transform(geometry, shift)


@dataclass(frozen=True, eq=False)
class PolygonShape:
    geometry: Polygon | MultiPolygon
    # Projection centre for circle tests, and the polygon projected around it.
    anchor: tuple[float, float] = field(init=False)
    projected: BaseGeometry = field(init=False)
    unwrapped: BaseGeometry = field(init=False)

    def __post_init__(self) -> None:
        unwrapped = unwrap(self.geometry)
        object.__setattr__(self, "unwrapped", unwrapped)
        min_lon, min_lat, max_lon, max_lat = unwrapped.bounds
        centre_lon = (min_lon + max_lon) / 2
        anchor = (centre_lon - 360.0 if centre_lon > 180.0 else centre_lon, (min_lat + max_lat) / 2)
        object.__setattr__(self, "anchor", anchor)

        def project(coords: NDArray[np.float64]) -> NDArray[np.float64]:
            x, y = aeqd(anchor[0], anchor[1], coords[:, 0], coords[:, 1])
            return np.column_stack([x, y])

        projected = shapely.transform(self.geometry, project)
        shapely.prepare(projected)
        shapely.prepare(self.geometry)
        object.__setattr__(self, "projected", projected)

    def boxes(self) -> list[Box]:
        min_lon, min_lat, max_lon, max_lat = self.geometry.bounds
        return [
            (
                min_lon - _BOX_PAD_DEG,
                min_lat - _BOX_PAD_DEG,
                max_lon + _BOX_PAD_DEG,
                max_lat + _BOX_PAD_DEG,
            )
        ]

    def near_circles(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64], radius_m: NDArray[np.float64]
    ) -> NDArray[np.bool_]:
        """Which circles (arrays of centres and radii) touch this polygon."""
        x, y = aeqd(self.anchor[0], self.anchor[1], lon, lat)
        return np.asarray(shapely.dwithin(self.projected, shapely.points(x, y), radius_m))

    def to_geojson(self) -> dict[str, Any]:
        return dict(shapely.geometry.mapping(self.geometry))


Shape = Circle | PolygonShape


def _wrap(west: float, south: float, east: float, north: float) -> list[Box]:
    pad = _BOX_PAD_DEG
    south, north = south - pad, north + pad
    west, east = west - pad, east + pad
    if west < -180.0:
        return [(-180.0, south, east, north), (west + 360.0, south, 180.0, north)]
    if east > 180.0:
        return [(west, south, 180.0, north), (-180.0, south, east - 360.0, north)]
    return [(west, south, east, north)]


def intersects(a: Shape, b: Shape) -> bool:
    """The one exact test every adapter and the reference use."""
    if isinstance(a, Circle) and isinstance(b, Circle):
        return bool(haversine_m(a.lon, a.lat, b.lon, b.lat) <= a.radius_m + b.radius_m)
    if isinstance(a, PolygonShape) and isinstance(b, PolygonShape):
        return bool(a.geometry.intersects(b.geometry))
    polygon, circle = (a, b) if isinstance(a, PolygonShape) else (b, a)
    assert isinstance(polygon, PolygonShape)
    assert isinstance(circle, Circle)
    return bool(
        polygon.near_circles(
            np.array([circle.lon]), np.array([circle.lat]), np.array([circle.radius_m])
        )[0]
    )


def contains(outer: Shape, inner: Shape) -> bool:
    """Whether `inner` lies entirely inside `outer` (same semantics as `intersects`)."""
    if isinstance(outer, Circle) and isinstance(inner, Circle):
        distance = haversine_m(outer.lon, outer.lat, inner.lon, inner.lat)
        return bool(distance + inner.radius_m <= outer.radius_m)
    if isinstance(outer, PolygonShape) and isinstance(inner, PolygonShape):
        return bool(outer.geometry.covers(inner.geometry))
    if isinstance(outer, PolygonShape):
        assert isinstance(inner, Circle)
        x, y = aeqd(outer.anchor[0], outer.anchor[1], np.array([inner.lon]), np.array([inner.lat]))
        centre = shapely.points(x, y)[0]
        return bool(
            outer.projected.covers(centre)
            and outer.projected.boundary.distance(centre) >= inner.radius_m
        )
    assert isinstance(inner, PolygonShape)
    # A disk is convex: a polygon lies in it when all its vertices do.
    coords = shapely.get_coordinates(inner.geometry)
    distances = haversine_m(outer.lon, outer.lat, coords[:, 0], coords[:, 1])
    return bool(np.all(distances <= outer.radius_m))


def circles_within(
    outer: Shape,
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    radius_m: NDArray[np.float64],
) -> NDArray[np.bool_]:
    """`contains(outer, Circle(lon[i], lat[i], radius_m[i]))` for many circles at once."""
    if isinstance(outer, Circle):
        distance = haversine_m(outer.lon, outer.lat, lon, lat)
        return np.asarray(distance + radius_m <= outer.radius_m)
    x, y = aeqd(outer.anchor[0], outer.anchor[1], lon, lat)
    centres = shapely.points(x, y)
    inside = shapely.covers(outer.projected, centres)
    return np.asarray(inside & (shapely.distance(outer.projected.boundary, centres) >= radius_m))


def circles_containing(
    inner: Shape,
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    radius_m: NDArray[np.float64],
) -> NDArray[np.bool_]:
    """`contains(Circle(lon[i], lat[i], radius_m[i]), inner)` for many circles at once."""
    if isinstance(inner, Circle):
        distance = haversine_m(inner.lon, inner.lat, lon, lat)
        return np.asarray(distance + inner.radius_m <= radius_m)
    vertices = shapely.get_coordinates(inner.geometry)
    farthest = haversine_m(
        lon[:, None], lat[:, None], vertices[None, :, 0], vertices[None, :, 1]
    ).max(axis=1)
    return np.asarray(farthest <= radius_m)


def circles_touching(
    query: Shape,
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    radius_m: NDArray[np.float64],
) -> NDArray[np.bool_]:
    """`intersects(query, Circle(lon[i], lat[i], radius_m[i]))` for many circles at once."""
    if isinstance(query, Circle):
        return np.asarray(haversine_m(query.lon, query.lat, lon, lat) <= query.radius_m + radius_m)
    return query.near_circles(lon, lat, radius_m)


@functools.lru_cache(maxsize=4096)
def _polygon_from_json(serialised: str) -> PolygonShape:
    geometry = shape(json.loads(serialised))
    assert isinstance(geometry, Polygon | MultiPolygon)
    return PolygonShape(geometry)


def from_geojson(data: dict[str, Any] | str) -> Shape:
    """A shape from GeoJSON (a dict, or its JSON text) validated by `app.geo.validation`.

    Polygons are cached by their text: stored areas are read far more often than written.
    """
    if isinstance(data, str):
        if '"Point"' not in data:
            return _polygon_from_json(data)
        data = json.loads(data)
    assert isinstance(data, dict)
    if data["type"] == "Point":
        lon, lat = data["coordinates"]
        return Circle(float(lon), float(lat), float(data.get("radius_m") or 0.0))
    return _polygon_from_json(json.dumps(data, sort_keys=True))
