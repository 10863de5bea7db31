"""GeoJSON shapes accepted at the API: points, and areas (Polygon, MultiPolygon, circle).

A circle is a GeoJSON Point with a `radius_m` member, as API.md defines it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema


def _check_position(position: tuple[float, float]) -> tuple[float, float]:
    lon, lat = position
    if not -180.0 <= lon <= 180.0:
        raise ValueError(f"longitude {lon} is outside [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise ValueError(f"latitude {lat} is outside [-90, 90]")
    return position


# A coordinate in a query string (`near=lon,lat`, `bbox=`), in range by its form: a
# decimal number, or one with a negative exponent as Python and JavaScript print small
# numbers (`-1.5e-05`, below 10 whatever its digits).
_SMALL = r"[0-9](\.[0-9]+)?[eE]-[0-9]+"
LONGITUDE = rf"-?(180(\.0+)?|(1[0-7][0-9]|[1-9]?[0-9])(\.[0-9]+)?|{_SMALL})"
LATITUDE = rf"-?(90(\.0+)?|[1-8]?[0-9](\.[0-9]+)?|{_SMALL})"
NEAR_PATTERN = rf"^{LONGITUDE},{LATITUDE}$"
BBOX_PATTERN = rf"^{LONGITUDE},{LATITUDE},{LONGITUDE},{LATITUDE}$"

# [longitude, latitude] in WGS84 degrees; a third (altitude) member is not accepted. The
# ranges are checked by `_check_position` (its messages name the coordinate) and stated
# in the schema, so that a generated client or test data keeps to them as well.
Position = Annotated[
    tuple[float, float],
    AfterValidator(_check_position),
    WithJsonSchema(
        {
            "type": "array",
            "description": "[longitude, latitude] in WGS84 degrees",
            "prefixItems": [
                {"type": "number", "minimum": -180, "maximum": 180},
                {"type": "number", "minimum": -90, "maximum": 90},
            ],
            "minItems": 2,
            "maxItems": 2,
        }
    ),
]
LinearRing = Annotated[list[Position], Field(min_length=4)]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Examples: Trafalgar Square, a circle around it, a square over Camden, and Camden with
# a square in Islington.
_SQUARE = [[-0.15, 51.53], [-0.13, 51.53], [-0.13, 51.545], [-0.15, 51.545], [-0.15, 51.53]]
_ISLINGTON = [[-0.11, 51.53], [-0.09, 51.53], [-0.09, 51.545], [-0.11, 51.545], [-0.11, 51.53]]


def _example(value: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [value]})


class PointGeometry(_Shape):
    model_config = _example({"type": "Point", "coordinates": [-0.1281, 51.508]})

    type: Literal["Point"]
    coordinates: Position


# The radii a circle may have (groups, alerts: app.geo.validation checks them with the
# rest of the area, and an unverified group's may be smaller still), and an agency's
# jurisdiction, which may cover a whole police force area.
MIN_RADIUS_M = 25
MAX_RADIUS_M = 50_000
MAX_JURISDICTION_RADIUS_M = 200_000


class CircleArea(_Shape):
    model_config = _example({"type": "Point", "coordinates": [-0.1281, 51.508], "radius_m": 800})

    type: Literal["Point"]
    coordinates: Position
    radius_m: float = Field(
        description=f"Radius of the circle in metres, {MIN_RADIUS_M}-{MAX_RADIUS_M:,}",
        json_schema_extra={"minimum": MIN_RADIUS_M, "maximum": MAX_RADIUS_M},
    )


class JurisdictionCircle(CircleArea):
    radius_m: float = Field(
        description=f"Radius of the circle in metres, {MIN_RADIUS_M}-{MAX_JURISDICTION_RADIUS_M:,}",
        json_schema_extra={"minimum": MIN_RADIUS_M, "maximum": MAX_JURISDICTION_RADIUS_M},
    )


class PolygonArea(_Shape):
    model_config = _example({"type": "Polygon", "coordinates": [_SQUARE]})

    type: Literal["Polygon"]
    coordinates: Annotated[list[LinearRing], Field(min_length=1)]


class MultiPolygonArea(_Shape):
    model_config = _example({"type": "MultiPolygon", "coordinates": [[_SQUARE], [_ISLINGTON]]})

    type: Literal["MultiPolygon"]
    coordinates: Annotated[
        list[Annotated[list[LinearRing], Field(min_length=1)]], Field(min_length=1)
    ]


Area = Annotated[
    CircleArea | PolygonArea | MultiPolygonArea,
    Field(discriminator="type", description="A GeoJSON Polygon or MultiPolygon, or a circle"),
]

JurisdictionArea = Annotated[
    JurisdictionCircle | PolygonArea | MultiPolygonArea,
    Field(discriminator="type", description="An agency's area: a Polygon, MultiPolygon or circle"),
]
