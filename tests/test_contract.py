"""The OpenAPI document states the rules the server enforces, so that a client generated
from it, or test data drawn from it, keeps to them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from app.main import create_app
from app.settings import Settings
from tests.auth.factories import new_account


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    settings = Settings(database_url="sqlite+aiosqlite://", jwt_secret=SecretStr("o" * 32))
    schema: dict[str, Any] = create_app(settings).openapi()
    return schema


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _objects(document: dict[str, Any], schema: dict[str, Any], seen: set[int]) -> Iterator[Any]:
    """Every object schema reachable from `schema`."""
    schema = _resolve(document, schema)
    if id(schema) in seen:
        return
    seen.add(id(schema))
    if "properties" in schema:
        yield schema
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for option in schema.get(key, []):
            yield from _objects(document, option, seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _objects(document, schema[key], seen)
    for member in schema.get("properties", {}).values():
        yield from _objects(document, member, seen)


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def test_json_request_bodies_refuse_unknown_fields(document: dict[str, Any]) -> None:
    checked = 0
    for method, path, operation in _operations(document):
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        for schema in _objects(document, content["application/json"]["schema"], set()):
            assert schema.get("additionalProperties") is False, (method, path, schema)
            checked += 1
    assert checked > 30


def _component(document: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][name]
    return schema


def test_coordinates_radii_and_times_carry_their_bounds(document: dict[str, Any]) -> None:
    point = _component(document, "PointGeometry")["properties"]["coordinates"]
    lon, lat = point["prefixItems"]
    assert (lon["minimum"], lon["maximum"], lat["minimum"], lat["maximum"]) == (-180, 180, -90, 90)
    assert (point["minItems"], point["maxItems"]) == (2, 2)
    radius = _component(document, "CircleArea")["properties"]["radius_m"]
    assert (radius["minimum"], radius["maximum"]) == (25, 50_000)
    jurisdiction = _component(document, "JurisdictionCircle")["properties"]["radius_m"]
    assert jurisdiction["maximum"] == 200_000
    quiet = _component(document, "QuietHours")["properties"]
    assert quiet["start"]["pattern"] == quiet["end"]["pattern"]
    zones = _component(document, "TimeZone")["enum"]
    assert "Europe/London" in zones
    assert "Mars/Olympus" not in zones
    assert zones == sorted(zones)
    assert (
        "7 days" in _component(document, "AlertCreate")["properties"]["expires_at"]["description"]
    )


async def test_the_quiet_hours_pattern_is_the_one_the_server_applies(
    document: dict[str, Any], client: httpx.AsyncClient
) -> None:
    pattern = re.compile(_component(document, "QuietHours")["properties"]["start"]["pattern"])
    resident = await new_account(client)
    for start in ("00:00", "23:59", "7:00", "24:00", "12:60", "12:5", " 12:00"):
        answer = await client.put(
            "/v1/me/preferences",
            headers=resident.headers,
            json={"quiet_hours": {"start": start, "end": "07:00", "timezone": "UTC"}},
        )
        assert (answer.status_code == 200) == bool(pattern.match(start)), (start, answer.text)


def _parameter(document: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    [parameter] = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name]
    schema: dict[str, Any] = parameter["schema"]
    return next((o for o in schema.get("anyOf", []) if o.get("type") == "string"), schema)


COORDINATES = [
    ("-0.1276,51.5072", True),
    ("180,90", True),
    ("-180.0,-90.0", True),
    ("-1.5e-05,51.5", True),
    ("180.5,0", False),
    ("0,90.01", False),
    ("1e5,0", False),
    ("0", False),
    ("0,0,0", False),
    ("nan,0", False),
    ("inf,0", False),
    (" 1,2", False),
]


async def test_near_and_bbox_are_taken_exactly_when_they_match_their_patterns(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    near_pattern = _parameter(app.openapi(), "/v1/groups", "near")["pattern"]
    bbox_pattern = _parameter(app.openapi(), "/v1/incidents", "bbox")["pattern"]
    resident = await new_account(client)
    for corner, valid in COORDINATES:
        assert bool(re.match(near_pattern, corner)) == valid, corner
        near = await client.get("/v1/groups", headers=resident.headers, params={"near": corner})
        assert near.status_code == (200 if valid else 422), (corner, near.text)
        bbox = f"-180,-90,{corner}"
        assert bool(re.match(bbox_pattern, bbox)) == valid, bbox
        box = await client.get("/v1/incidents", headers=resident.headers, params={"bbox": bbox})
        assert box.status_code == (200 if valid else 422), (bbox, box.text)
    # What the pattern cannot say, the server still checks: each min at most its max.
    reversed_box = await client.get(
        "/v1/incidents", headers=resident.headers, params={"bbox": "10,0,-10,1"}
    )
    assert reversed_box.status_code == 422
    assert reversed_box.json()["errors"][0]["field"] == "bbox"


# Operations of app/auth/router.py, which is being reworked on another branch (API
# clients): their descriptions come with that work.
DESCRIBED_ELSEWHERE = {"read_me", "update_me"}
JSON_TYPES = ("application/json", "application/geo+json", "application/x-www-form-urlencoded")


def _examples(content: dict[str, Any]) -> list[Any]:
    if "example" in content:
        return [content["example"]]
    return [e.get("value") for e in content.get("examples", {}).values()]


def test_every_operation_is_described_with_examples_that_fit_its_schemas(
    document: dict[str, Any],
) -> None:
    components = {"components": document["components"]}
    shown = 0
    for method, path, operation in _operations(document):
        where = f"{method} {path}"
        if operation["operationId"] not in DESCRIBED_ELSEWHERE:
            assert operation.get("description", "").strip(), f"{where} has no description"
        bodies = [operation.get("requestBody", {})] + [
            answer
            for status, answer in operation["responses"].items()
            if status.startswith("2") and answer.get("content")
        ]
        bodies = [body for body in bodies if body.get("content")]
        for body in bodies:
            contents = body.get("content", {})
            examples = [e for content in contents.values() for e in _examples(content)]
            binary = all(
                media_type.startswith("image/")
                or media_type == "multipart/form-data"
                or c.get("schema", {}).get("format") == "binary"
                for media_type, c in contents.items()
            )
            assert examples or binary, f"{where}: no example of {list(contents)}"
            for media_type in JSON_TYPES:
                if media_type not in contents:
                    continue
                content = contents[media_type]
                validator = jsonschema_rs.Draft202012Validator({**content["schema"], **components})
                for example in _examples(content):
                    errors = [e.message for e in validator.iter_errors(example)]
                    assert not errors, (where, media_type, example, errors)
                    shown += 1
    assert shown > 60


@pytest.mark.parametrize(
    ("promise", "prefix"),
    [("open311", "/open311"), ("webhook", "/v1/webhooks"), ("geoReport", "/open311")],
)
def test_the_description_promises_only_what_is_served(
    document: dict[str, Any], promise: str, prefix: str
) -> None:
    description = document["info"]["description"].lower()
    served = any(path.startswith(prefix) for path in document["paths"])
    assert promise.lower() not in description or served
