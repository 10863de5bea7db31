"""`GET /v1/incidents` as GeoJSON, chosen by content negotiation and described by the
document; geometry in every answer typed as the GeoJSON it is."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jsonschema_rs
import pytest
from fastapi import FastAPI

from tests.auth.factories import new_account
from tests.incidents.factories import report
from tests.test_problems import assert_problem

GEOJSON = "application/geo+json"


def _validator(app: FastAPI, ref: dict[str, Any]) -> jsonschema_rs.Draft202012Validator:
    """A validator for one schema of the served document, its references resolved there."""
    document = app.openapi()
    return jsonschema_rs.Draft202012Validator({**ref, "components": document["components"]})


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (GEOJSON, GEOJSON),
        (f"{GEOJSON}, application/json", GEOJSON),
        (f"application/json;q=0.5, {GEOJSON}", GEOJSON),
        (f"{GEOJSON}, */*;q=0.1", GEOJSON),
        ("application/json;q=0.1, */*", GEOJSON),
        (None, "application/json"),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        (f"{GEOJSON};q=0.5, application/json", "application/json"),
        (f"{GEOJSON};q=0", "application/json"),
        (f"{GEOJSON};q=high", "application/json"),
        ("text/html", "application/json"),
    ],
)
async def test_accept_chooses_json_or_geojson_as_documented(
    app: FastAPI, client: httpx.AsyncClient, accept: str | None, media_type: str
) -> None:
    resident = await new_account(client)
    incident = (await report(client, resident)).json()
    headers = {**resident.headers, **({"Accept": accept} if accept else {})}
    answer = await client.get("/v1/incidents", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == media_type
    responses = app.openapi()["paths"]["/v1/incidents"]["get"]["responses"]
    schema = responses["200"]["content"][media_type]["schema"]
    body = answer.json()
    _validator(app, schema).validate(body)
    if media_type == GEOJSON:
        assert body["type"] == "FeatureCollection"
        [feature] = body["features"]
        assert feature["id"] == incident["id"]
        assert feature["geometry"] == incident["location"]
        assert feature["properties"] == {k: v for k, v in incident.items() if k != "location"}
        assert body["next_cursor"] is None
    else:
        assert body["items"] == [incident]


def test_accept_is_negotiated_not_a_parameter(app: FastAPI) -> None:
    operation = app.openapi()["paths"]["/v1/incidents"]["get"]
    names = {p["name"].lower() for p in operation["parameters"]}
    assert "accept" not in names
    assert operation["responses"]["200"]["content"][GEOJSON]["schema"] == {
        "$ref": "#/components/schemas/IncidentFeatureCollection"
    }
    assert "application/problem+json" in operation["responses"]["404"]["content"]
    for path in ("/v1/alerts/{alert_id}", "/v1/me/export"):
        parameters = app.openapi()["paths"][path]["get"].get("parameters", [])
        assert "accept" not in {p["name"].lower() for p in parameters}, path


async def test_unknown_group_id_is_a_404(client: httpx.AsyncClient) -> None:
    resident = await new_account(client)
    answer = await client.get(
        "/v1/incidents", headers=resident.headers, params={"group_id": str(uuid.uuid4())}
    )
    assert_problem(answer, 404)


def _refs(schema: dict[str, Any]) -> set[str]:
    options = schema.get("anyOf", schema.get("oneOf", [schema]))
    return {o["$ref"].rsplit("/", 1)[1] for o in options if "$ref" in o}


AREA = {"CircleArea", "PolygonArea", "MultiPolygonArea"}


@pytest.mark.parametrize(
    ("model", "field", "shapes"),
    [
        ("IncidentRead", "location", {"PointGeometry"}),
        ("IncidentFeature", "geometry", {"PointGeometry"}),
        ("PlaceRead", "location", {"PointGeometry"}),
        ("GroupRead", "area", AREA),
        ("VerificationGroup", "area", AREA),
        ("AlertRead", "area", AREA),
        ("UserRead", "jurisdiction", {"JurisdictionCircle", "PolygonArea", "MultiPolygonArea"}),
    ],
)
def test_geometry_in_answers_is_typed_geojson(
    app: FastAPI, model: str, field: str, shapes: set[str]
) -> None:
    components = app.openapi()["components"]["schemas"]
    schema = components[model]["properties"][field]
    found = _refs(schema)
    if not found:  # nullable: anyOf [the union, null]
        found = {ref for option in schema.get("anyOf", []) for ref in _refs(option)}
    assert found == shapes, schema
    circle = components["CircleArea"]["properties"]
    assert circle["type"]["const"] == "Point"
    assert "radius_m" in components["CircleArea"]["required"]
