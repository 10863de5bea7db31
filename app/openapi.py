"""Shaping the generated OpenAPI document into the one third parties read.

FastAPI describes validation errors with its own schema; ours are problem documents,
so every 422 is rewritten, and every operation that can answer 401 or 404 says so.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetail"}
PROBLEM_CONTENT = {"application/problem+json": {"schema": PROBLEM_REF}}


def operation_id(route: APIRoute) -> str:
    """Handlers are named verb_noun and unique, so their names are the operation ids."""
    return route.name


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": PROBLEM_CONTENT}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for path, methods in schema.get("paths", {}).items():
        for operation in methods.values():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = _problem("The request is invalid; `errors` names each field")
                responses.setdefault("400", _problem("Malformed body or cursor"))
            if "requestBody" in operation and "application/json" in operation["requestBody"].get(
                "content", {}
            ):
                responses.setdefault("413", _problem("The body is larger than allowed"))
                responses.setdefault("415", _problem("The body is not JSON"))
            if operation.get("security"):
                responses.setdefault("401", _problem("Missing, invalid or expired access token"))
            # An id in the query (`GET /v1/incidents?group_id=`) names an object as one
            # in the path does.
            names_an_object = "{" in path or any(
                p.get("name", "").endswith("_id") for p in operation.get("parameters", [])
            )
            if names_an_object:
                responses.setdefault("404", _problem("No such object, or not visible to you"))
            for response in responses.values():
                content = response.get("content", {})
                if "application/problem+json" in content:
                    content.pop("application/json", None)
                    content["application/problem+json"] = {"schema": PROBLEM_REF}
    app.openapi_schema = schema
    return schema
