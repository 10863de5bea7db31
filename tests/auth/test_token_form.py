"""The token endpoint's form: each grant's fields as the OpenAPI document declares them,
and RFC 6749's answers for a form that breaks them."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.auth.factories import PASSWORD, new_account, new_admin, new_api_client


def test_the_document_declares_one_form_per_grant(app: FastAPI) -> None:
    document = app.openapi()
    body = document["paths"]["/v1/auth/token"]["post"]["requestBody"]
    assert body["required"] is True
    schema = body["content"]["application/x-www-form-urlencoded"]["schema"]
    assert schema["discriminator"]["propertyName"] == "grant_type"
    components = document["components"]["schemas"]
    grants = {}
    for ref in schema["oneOf"]:
        grant = components[ref["$ref"].rsplit("/", 1)[1]]
        grants[grant["properties"]["grant_type"]["const"]] = sorted(grant["required"])
    assert grants == {
        "password": ["grant_type", "password", "username"],
        "refresh_token": ["grant_type", "refresh_token"],
        "client_credentials": ["grant_type"],  # Basic, or client_id and client_secret
    }
    assert set(schema["discriminator"]["mapping"]) == set(grants)


@pytest.mark.parametrize(
    ("form", "named"),
    [
        ({"grant_type": "password", "username": "a@example.org"}, "password"),
        ({"grant_type": "password", "username": "", "password": "x"}, "username"),
        ({"grant_type": "refresh_token"}, "refresh_token"),
        ({"grant_type": "refresh_token", "refresh_token": ""}, "refresh_token"),
    ],
)
async def test_a_grant_without_its_fields_is_an_invalid_request(
    client: httpx.AsyncClient, form: dict[str, str], named: str
) -> None:
    answer = await client.post("/v1/auth/token", data=form)
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "invalid_request"
    assert named in body["error_description"]
    assert answer.headers["cache-control"] == "no-store"


async def test_a_parameter_given_twice_is_an_invalid_request(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """RFC 6749 §3.2: parameters must not be included more than once."""
    account = await new_account(client)
    content = f"grant_type=password&username={account.email}&password=x&password={PASSWORD}"
    answer = await client.post(
        "/v1/auth/token",
        content=content,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
    assert "password" in answer.json()["error_description"]


async def test_unknown_parameters_are_ignored_and_each_grant_still_works(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """RFC 6749 §3.2: the server ignores parameters it does not know."""
    account = await new_account(client)
    signed_in = await client.post(
        "/v1/auth/token",
        data={
            "grant_type": "password",
            "username": account.email,
            "password": PASSWORD,
            "client_id": "the-app",
            "nonce": "abc",
        },
    )
    assert signed_in.status_code == 200, signed_in.text
    refreshed = await client.post(
        "/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": account.refresh_token, "x": "1"},
    )
    assert refreshed.status_code == 200, refreshed.text
    admin = await new_admin(app, client)
    made = await new_api_client(client, admin)
    token = await client.post(
        "/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": made.id,
            "client_secret": made.secret,
            "audience": "ignored",
        },
    )
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "alerts:read"
