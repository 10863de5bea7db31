"""Open311 for tests: a client with its api_key, requests sent as a client would send
them, answers read in either format, and the standard's JSON schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
import httpx
import jsonschema_rs
import pytest
from fastapi import FastAPI

from app.integrations.open311.xml import ITEMS
from tests.auth.factories import ApiClientCredentials, new_admin, new_api_client
from tests.incidents.factories import SPOT

BASE = "/open311/v2"
FORMATS = ("json", "xml")
STANDARDS = Path(__file__).resolve().parents[3] / "shared" / "standards"
CONTACT = {
    "email": "Ann.Contact@example.org",
    "phone": "+44 20 7946 0000",
    "first_name": "Annabel",
    "last_name": "Contactperson",
    "device_id": "device-7c1f",
    "account_id": "fms-account-991",
}


async def writer(app: FastAPI, client: httpx.AsyncClient) -> ApiClientCredentials:
    """An API client holding incidents:write, made by an admin."""
    admin = await new_admin(app, client)
    return await new_api_client(client, admin, scopes=("incidents:write",))


def request_form(api_key: str | None, **fields: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "service_code": "burglary",
        "lat": str(SPOT[1]),
        "long": str(SPOT[0]),
        "description": "Shed door forced, bike taken.",
        **CONTACT,
        **fields,
    }
    if api_key is not None:
        form["api_key"] = api_key
    return {k: v for k, v in form.items() if v is not None}


async def post_request(
    client: httpx.AsyncClient,
    api_key: str | None,
    fmt: str = "json",
    headers: dict[str, Any] | None = None,
    **fields: Any,
) -> httpx.Response:
    return await client.post(
        f"{BASE}/requests.{fmt}", data=request_form(api_key, **fields), headers=headers
    )


def _value(element: Any) -> Any:
    children = list(element)
    if element.tag in ITEMS:
        return [_value(child) for child in children]
    if children:
        return {child.tag: _value(child) for child in children}
    return element.text


def parsed(answer: httpx.Response, fmt: str) -> Any:
    """The answer's body as JSON values (XML's as strings), checking its format."""
    if fmt == "json":
        assert answer.headers["content-type"].startswith("application/json"), answer.headers
        return answer.json()
    assert answer.headers["content-type"] == "text/xml; charset=utf-8", answer.headers
    assert answer.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n'), answer.content
    root = SafeET.fromstring(answer.content)
    assert all("{" not in e.tag for e in root.iter())  # no namespace, the root included
    return _value(root)


def as_text(value: Any) -> Any:
    """JSON values as the XML spells them, to compare the two formats."""
    if isinstance(value, dict):
        return {k: as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_text(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)


async def both(client: httpx.AsyncClient, path: str, **params: Any) -> tuple[int, Any]:
    """GET `path` (without its extension) in both formats: the status and the JSON body,
    after checking that the XML answer says the same."""
    answers = {fmt: await client.get(f"{BASE}{path}.{fmt}", params=params) for fmt in FORMATS}
    assert answers["json"].status_code == answers["xml"].status_code, answers
    body = parsed(answers["json"], "json")
    assert as_text(body) == parsed(answers["xml"], "xml")
    return answers["json"].status_code, body


def assert_errors(answer: httpx.Response, fmt: str, status: int, *words: str) -> str:
    """An Open311 error answer: the status, an array of {code, description}."""
    assert answer.status_code == status, answer.text
    body = parsed(answer, fmt)
    assert isinstance(body, list), body
    assert len(body) == 1, body
    [entry] = body
    assert set(entry) == {"code", "description"}
    assert str(entry["code"]) == str(status)
    for word in words:
        assert word in entry["description"], (word, entry)
    description: str = entry["description"]
    return description


def _standard(name: str) -> dict[str, Any]:
    path = STANDARDS / f"open311-georeport-v2-{name}.json"
    if not path.is_file():
        pytest.skip(f"the Open311 schemas are in ../shared/standards, absent here: {path}")
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def validate(kind: str, body: Any) -> None:
    """Against the standard's schema of `kind`: service(s), service-definition, request(s)."""
    schema = _standard(kind)
    if kind in ("services", "requests"):
        items = {k: v for k, v in schema["items"].items() if k != "$ref"}
        schema = {**schema, "items": {**items, **_standard(kind[:-1])}}
    validator = jsonschema_rs.validator_for(schema, validate_formats=True)
    errors = [e.message for e in validator.iter_errors(body)]
    assert not errors, (kind, body, errors)


def validate_documented(app: FastAPI, path: str, method: str, status: int, body: Any) -> None:
    """Against the schema our OpenAPI document gives the answer (for the answers the
    standard has no schema of: discovery, a filed request, errors)."""
    document = app.openapi()
    content = document["paths"][path][method]["responses"][str(status)]["content"]
    schema = {**content["application/json"]["schema"], "components": document["components"]}
    errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(body)]
    assert not errors, (path, status, body, errors)
