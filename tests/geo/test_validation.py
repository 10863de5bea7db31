"""Every malformed area is a 422 that names the offending member; nothing is stored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.auth.factories import new_admin

SQUARE = [[-0.15, 51.53], [-0.13, 51.53], [-0.13, 51.545], [-0.15, 51.545], [-0.15, 51.53]]


def polygon(*rings: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def circle(radius_m: float, lon: float = -0.12, lat: float = 51.5) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat], "radius_m": radius_m}


def many_vertices(n: int) -> dict[str, Any]:
    import math

    ring = [
        [-0.1 + 0.05 * math.cos(2 * math.pi * i / n), 51.5 + 0.03 * math.sin(2 * math.pi * i / n)]
        for i in range(n)
    ]
    return polygon([*ring, ring[0]])


CASES: dict[str, tuple[dict[str, Any], str, str]] = {
    # name: (area, field named, words in the message)
    "longitude out of range": (
        polygon([[200, 0], [1, 0], [1, 1], [200, 0]]),
        "area.coordinates.0.0",
        "longitude",
    ),
    "latitude out of range": (circle(100, lat=95), "area.coordinates", "latitude"),
    "unclosed ring": (polygon([*SQUARE[:-1], [-0.15, 51.531]]), "area.coordinates.0", "not closed"),
    "self-intersecting ring": (
        polygon([[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]),
        "area.coordinates",
        "Self-intersection",
    ),
    "fewer than 4 positions": (
        polygon([[0, 0], [1, 1], [0, 0]]),
        "area.coordinates.0",
        "at least 4",
    ),
    "more than 2,000 vertices": (many_vertices(2_100), "area.coordinates", "2000"),
    "area too large": (
        polygon([[0, 50], [1, 50], [1, 51], [0, 51], [0, 50]]),
        "area.coordinates",
        "km²",
    ),
    "radius too small": (circle(10), "area.radius_m", "between 25 and 50000"),
    "radius too large": (circle(60_000), "area.radius_m", "between 25 and 50000"),
    "crosses the antimeridian": (
        polygon([[179.9, 0], [-179.9, 0], [-179.9, 0.1], [179.9, 0.1], [179.9, 0]]),
        "area.coordinates.0.1",
        "antimeridian",
    ),
    "unknown type": ({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "area", "tag"),
    "missing radius": ({"type": "Point", "coordinates": [0, 0]}, "area.radius_m", "required"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_invalid_area_is_422_naming_the_field(
    app: FastAPI, client: httpx.AsyncClient, case: str
) -> None:
    area, field, words = CASES[case]
    # An admin: the general limits (a resident's unverified groups have smaller ones).
    owner = await new_admin(app, client)
    answer = await client.post(
        "/v1/groups", headers=owner.headers, json={"name": "Bad area", "area": area}
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    errors = answer.json()["errors"]
    assert errors[0]["field"] == field, errors
    assert words.lower() in errors[0]["message"].lower()
    mine = await client.get("/v1/me/groups", headers=owner.headers)
    assert mine.json()["items"] == []


async def test_valid_areas_are_accepted(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner = await new_admin(app, client)
    split = {
        "type": "MultiPolygon",
        "coordinates": [
            [[[179.9, 0], [180, 0], [180, 0.1], [179.9, 0.1], [179.9, 0]]],
            [[[-180, 0], [-179.9, 0], [-179.9, 0.1], [-180, 0.1], [-180, 0]]],
        ],
    }
    with_hole = polygon(
        SQUARE,
        [[-0.145, 51.535], [-0.135, 51.535], [-0.135, 51.54], [-0.145, 51.54], [-0.145, 51.535]],
    )
    for area in (circle(25), circle(50_000), polygon(SQUARE), split, with_hole):
        answer = await client.post(
            "/v1/groups", headers=owner.headers, json={"name": "Fine", "area": area}
        )
        assert answer.status_code == 201, (area, answer.text)
