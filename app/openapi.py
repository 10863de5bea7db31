"""Shaping the generated OpenAPI document into the one third parties read.

FastAPI describes validation errors with its own schema; ours are problem documents,
so every 422 is rewritten, and every operation that can answer 401 or 404 says so.
"""

from __future__ import annotations

from typing import Any, cast

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetail"}
PROBLEM_CONTENT = {"application/problem+json": {"schema": PROBLEM_REF}}


# Models that an operation answers in a media type FastAPI does not generate a schema for
# (`application/geo+json`): `component` names them, `build_openapi` adds their schemas.
_DECLARED: dict[str, type[BaseModel]] = {}


# Schemas of values too large to repeat wherever they are used (the IANA zone names).
_NAMED: dict[str, dict[str, Any]] = {}
_NAMED_KEY = "x-neighbourwatch-component"


def component(model: type[BaseModel]) -> dict[str, str]:
    """A reference to the model's schema among the document's components."""
    _DECLARED[model.__name__] = model
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def named_schema(name: str, schema: dict[str, Any]) -> dict[str, str]:
    """A stand-in for `schema`, which `build_openapi` turns into a reference to the one
    copy among the document's components (pydantic cannot emit a reference to a schema
    it did not generate)."""
    _NAMED[name] = schema
    return {"type": schema["type"], _NAMED_KEY: name}


def _refer_to_named(node: Any) -> Any:
    if isinstance(node, dict):
        if _NAMED_KEY in node:
            return {"$ref": f"#/components/schemas/{node[_NAMED_KEY]}"}
        return {key: _refer_to_named(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_refer_to_named(value) for value in node]
    return node


def _add_declared(components: dict[str, Any]) -> None:
    _, definitions = models_json_schema(
        [(model, "serialization") for model in _DECLARED.values()],
        ref_template="#/components/schemas/{model}",
    )
    for name, definition in definitions.get("$defs", {}).items():
        # A model FastAPI has described already (a response model's part) keeps its
        # description, so that the two cannot disagree on what one name means.
        components.setdefault(name, definition)
    components.update(_NAMED)


def operation_id(route: APIRoute) -> str:
    """Handlers are named verb_noun and unique, so their names are the operation ids."""
    return route.name


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": PROBLEM_CONTENT}


# Media types whose answers and bodies are JSON (or, as a form, a flat object), so that an
# example can be built for them from their schema.
EXAMPLE_MEDIA_TYPES = (
    "application/json",
    "application/geo+json",
    "application/x-www-form-urlencoded",
)
_STRING_EXAMPLES = {
    "date-time": "2026-11-23T21:40:00Z",
    "date": "2026-11-23",
    "uuid": "0b6c5e3e-8f1a-4c39-9a57-2f4d1c7e9b10",
    "email": "ann@example.org",
    "uri": "https://example.org/",
}


def example_of(
    schema: dict[str, Any], components: dict[str, Any], *, request: bool, depth: int = 0
) -> Any:
    """An example value of `schema`, made of the examples its parts give (a model's, a
    field's) and, where they give none, of a plain value of the type: so that every
    request and answer in the document shows one, and none can contradict its schema.
    A request's example names its required members and those with an example of their
    own; an answer's, every member."""
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    for key in ("examples", "example"):
        if key in schema:
            return schema[key][0] if key == "examples" else schema[key]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("default") is not None and depth > 0:
        return schema["default"]
    options = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if options:
        concrete = [o for o in options if o.get("type") != "null"] or options
        return example_of(concrete[0], components, request=request, depth=depth + 1)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        required = set(schema.get("required", []))
        return {
            name: example_of(member, components, request=request, depth=depth + 1)
            for name, member in schema.get("properties", {}).items()
            if not request or name in required or _has_example(member, components)
        }
    if kind == "array":
        if "prefixItems" in schema:
            return [
                example_of(item, components, request=request, depth=depth + 1)
                for item in schema["prefixItems"]
            ]
        item = example_of(schema.get("items", {}), components, request=request, depth=depth + 1)
        return [item] * max(1, schema.get("minItems", 1))
    if kind == "string":
        text = _STRING_EXAMPLES.get(schema.get("format", ""), "text")
        return text.ljust(schema.get("minLength", 0), "x")[: schema.get("maxLength")]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        high = schema.get("maximum", low)
        value = min(max(low, 1), high)
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    return None


def _has_example(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    return "examples" in schema or "example" in schema


def _add_examples(operation: dict[str, Any], components: dict[str, Any]) -> None:
    bodies = [(operation.get("requestBody", {}), True)] + [
        (response, False)
        for status, response in operation.get("responses", {}).items()
        if status.startswith("2")
    ]
    for holder, request in bodies:
        for media_type, content in holder.get("content", {}).items():
            given = "example" in content or "examples" in content
            if media_type in EXAMPLE_MEDIA_TYPES and "schema" in content and not given:
                content["example"] = example_of(content["schema"], components, request=request)


def _negotiated(operation: dict[str, Any]) -> None:
    """An answer negotiated between JSON media types (`GET /v1/incidents`: a page, or
    with `Accept: application/geo+json` a FeatureCollection) declares, under
    `application/json` and first, a schema admitting each: generated clients (such as
    openapi-python-client) read one schema per status, from the first media type, and
    must parse whichever representation they asked for."""
    for status, response in operation.get("responses", {}).items():
        content = response.get("content", {})
        if not status.startswith("2") or "application/json" not in content:
            continue
        others = [
            body["schema"]
            for media_type, body in content.items()
            if media_type != "application/json"
            and media_type.endswith("+json")
            and "schema" in body
        ]
        if not others:
            continue
        plain = content.pop("application/json")
        plain["schema"] = {"oneOf": [plain["schema"], *others]}
        response["content"] = {"application/json": plain, **content}


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
    _add_declared(schema.setdefault("components", {}).setdefault("schemas", {}))
    schema = cast(dict[str, Any], _refer_to_named(schema))
    components = schema["components"]["schemas"]
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for path, methods in schema.get("paths", {}).items():
        for operation in methods.values():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            # An operation that answers its errors in a protocol's own shape (Open311)
            # documents them itself: FastAPI's 422 is never its answer.
            if operation.pop("x-own-errors", False):
                responses.pop("422", None)
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
            _negotiated(operation)
            _add_examples(operation, components)
    app.openapi_schema = schema
    return schema


def stable(node: Any, parent: str | None = None) -> Any:
    """The document with its keys sorted, so that the committed file diffs well; but an
    answer's or body's media types keep their order, as generated clients take the first
    they support (see `_negotiated`)."""
    if isinstance(node, dict):
        keys = list(node) if parent == "content" else sorted(node)
        return {key: stable(node[key], key) for key in keys}
    if isinstance(node, list):
        return [stable(value) for value in node]
    return node
