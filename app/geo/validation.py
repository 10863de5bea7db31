"""Turning a GeoJSON area from a request into a `Shape`, or a 422 that names the problem."""

from __future__ import annotations

import math
from dataclasses import dataclass

from shapely.geometry import MultiPolygon, Polygon
from shapely.validation import explain_validity

from app.geo.schemas import CircleArea, MultiPolygonArea, PolygonArea
from app.geo.shapes import Circle, PolygonShape, Shape, laea_area_m2, unwrap
from app.problems import invalid

MAX_VERTICES = 2_000
# Beyond this extent an area is far larger than any limit we accept, and the
# projections used for exact tests would lose their accuracy.
MAX_EXTENT_DEG = 10.0


@dataclass(frozen=True)
class AreaLimits:
    min_radius_m: float
    max_radius_m: float
    max_area_km2: float


class AreaError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _check_ring(ring: list[tuple[float, float]], path: str) -> None:
    if len(ring) < 4:
        raise AreaError(path, "a linear ring needs at least 4 positions")
    if tuple(ring[0]) != tuple(ring[-1]):
        raise AreaError(path, "the ring is not closed: its last position must equal its first")
    for i in range(len(ring) - 1):
        if abs(ring[i + 1][0] - ring[i][0]) > 180.0:
            raise AreaError(
                f"{path}.{i + 1}",
                "the ring crosses the antimeridian; split it at ±180° into a MultiPolygon",
            )


def polygon_shape(area: PolygonArea | MultiPolygonArea, limits: AreaLimits) -> PolygonShape:
    polygons = [area.coordinates] if isinstance(area, PolygonArea) else area.coordinates
    vertices = 0
    for p, rings in enumerate(polygons):
        for r, ring in enumerate(rings):
            prefix = "coordinates" if isinstance(area, PolygonArea) else f"coordinates.{p}"
            _check_ring(ring, f"{prefix}.{r}")
            vertices += len(ring) - 1
    if vertices > MAX_VERTICES:
        raise AreaError("coordinates", f"{vertices} vertices; at most {MAX_VERTICES} allowed")
    built = [Polygon(rings[0], rings[1:]) for rings in polygons]
    geometry: Polygon | MultiPolygon = built[0] if len(built) == 1 else MultiPolygon(built)
    if not geometry.is_valid:
        # e.g. "Self-intersection[0.5 0.5]", "Ring Self-intersection", "Hole lies outside shell"
        raise AreaError("coordinates", f"invalid polygon: {explain_validity(geometry)}")
    if geometry.area == 0:
        raise AreaError("coordinates", "the polygon has no area")
    unwrapped = unwrap(geometry)
    min_lon, min_lat, max_lon, max_lat = unwrapped.bounds
    if max_lon - min_lon > MAX_EXTENT_DEG or max_lat - min_lat > MAX_EXTENT_DEG:
        raise AreaError("coordinates", f"the area is larger than {limits.max_area_km2:g} km²")
    km2 = laea_area_m2(unwrapped) / 1e6
    if km2 > limits.max_area_km2:
        raise AreaError(
            "coordinates", f"the area is {km2:,.1f} km²; at most {limits.max_area_km2:g} km²"
        )
    return PolygonShape(geometry)


def area_shape(area: CircleArea | PolygonArea | MultiPolygonArea, limits: AreaLimits) -> Shape:
    """Validate an area; raises AreaError with the offending member's path."""
    if isinstance(area, CircleArea):
        if not limits.min_radius_m <= area.radius_m <= limits.max_radius_m:
            raise AreaError(
                "radius_m",
                f"must be between {limits.min_radius_m:g} and {limits.max_radius_m:g} metres",
            )
        return Circle(area.coordinates[0], area.coordinates[1], area.radius_m)
    return polygon_shape(area, limits)


def checked_area(
    field: str, area: CircleArea | PolygonArea | MultiPolygonArea, limits: AreaLimits
) -> Shape:
    """`area_shape`, answering a bad area with a 422 naming e.g. `area.coordinates.0`."""
    try:
        return area_shape(area, limits)
    except AreaError as exc:
        raise invalid(f"{field}.{exc.path}", exc.message, code="invalid_area") from exc


def check_at_least(field: str, shape: Shape, min_radius_m: float, *, given: bool = True) -> None:
    """A 422 naming `field` unless `shape` is at least a circle of `min_radius_m`: a
    circle by its radius, a polygon by its area (π·r²). `given`: the caller sent this
    area (the error names its member), rather than it being a default."""
    if isinstance(shape, Circle):
        if shape.radius_m >= min_radius_m:
            return
        path, message = "radius_m", f"must be at least {min_radius_m:g} metres"
    else:
        need_m2 = math.pi * min_radius_m**2
        # Part by part: a MultiPolygon's tiny part would probe one house while a large
        # one made up the area.
        parts = getattr(shape.unwrapped, "geoms", [shape.unwrapped])
        have_m2 = min(laea_area_m2(part) for part in parts)
        if have_m2 >= need_m2:
            return
        path = "coordinates"
        message = (
            f"the area (or one of its polygons) is {have_m2:,.0f} m²; each must be at least "
            f"{need_m2:,.0f} m² (a circle of {min_radius_m:g} metres)"
        )
    raise invalid(f"{field}.{path}" if given else field, message, code="area_too_small")
