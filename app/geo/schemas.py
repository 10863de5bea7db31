"""GeoJSON shapes accepted at the API: points, and areas (Polygon, MultiPolygon, circle).

A circle is a GeoJSON Point with a `radius_m` member, as API.md defines it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _check_position(position: tuple[float, float]) -> tuple[float, float]:
    lon, lat = position
    if not -180.0 <= lon <= 180.0:
        raise ValueError(f"longitude {lon} is outside [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise ValueError(f"latitude {lat} is outside [-90, 90]")
    return position


# [longitude, latitude] in WGS84 degrees; a third (altitude) member is not accepted.
Position = Annotated[tuple[float, float], AfterValidator(_check_position)]
LinearRing = Annotated[list[Position], Field(min_length=4)]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PointGeometry(_Shape):
    type: Literal["Point"]
    coordinates: Position


class CircleArea(_Shape):
    type: Literal["Point"]
    coordinates: Position
    radius_m: float = Field(description="Radius of the circle in metres")


class PolygonArea(_Shape):
    type: Literal["Polygon"]
    coordinates: Annotated[list[LinearRing], Field(min_length=1)]


class MultiPolygonArea(_Shape):
    type: Literal["MultiPolygon"]
    coordinates: Annotated[
        list[Annotated[list[LinearRing], Field(min_length=1)]], Field(min_length=1)
    ]


Area = Annotated[
    CircleArea | PolygonArea | MultiPolygonArea,
    Field(discriminator="type", description="A GeoJSON Polygon or MultiPolygon, or a circle"),
]
