"""Every error is an RFC 9457 problem document, names the fields, and leaks nothing."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.auth.factories import PASSWORD, new_account
from tests.conftest import AppFactory

PROBLEM = "application/problem+json"


def assert_problem(answer: httpx.Response, status: int) -> dict[str, object]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body: dict[str, object] = answer.json()
    assert body["status"] == status
    assert body["title"]
    assert body["type"]
    assert body["request_id"] == answer.headers["x-request-id"]
    return body


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/nothing-here"), 404)


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.delete("/v1/auth/register"), 405)
    assert "DELETE" in str(body["detail"])


async def test_wrong_content_type_is_415(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/v1/auth/register",
        content=b"email=a@example.org",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_problem(answer, 415)


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/v1/auth/register", content=b'{"email": ', headers={"content-type": "application/json"}
    )
    assert_problem(answer, 400)


async def test_wrong_types_and_missing_fields_are_named(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/v1/auth/register", json={"email": 12, "password": ["x"], "surprise": True}
    )
    body = assert_problem(answer, 422)
    errors = body["errors"]
    assert isinstance(errors, list)
    fields = {e["field"] for e in errors}
    assert fields == {"email", "password", "display_name", "surprise"}
    assert all(e["message"] for e in errors)


async def test_invalid_path_and_query_parameters_are_named(client: httpx.AsyncClient) -> None:
    account = await new_account(client)
    answer = await client.delete("/v1/devices/not-a-uuid", headers=account.headers)
    assert assert_problem(answer, 422)["errors"][0]["field"] == "device_id"  # type: ignore[index]
    answer = await client.get("/v1/devices", headers=account.headers, params={"limit": 0})
    assert assert_problem(answer, 422)["errors"][0]["field"] == "limit"  # type: ignore[index]


async def test_oversized_body_is_413_and_nothing_is_stored(
    app_factory: AppFactory,
) -> None:
    async with app_factory(max_body_bytes=2048) as (_app, client):
        big = {"email": "big@example.org", "password": PASSWORD, "display_name": "x" * 4000}
        assert_problem(await client.post("/v1/auth/register", json=big), 413)

        async def chunks() -> AsyncIterator[bytes]:
            # No Content-Length: the limit must hold for a streamed body too.
            yield b'{"email": "big@example.org", "display_name": "'
            for _ in range(10):
                yield b"y" * 1000
            yield b'", "password": "correct horse battery staple"}'

        streamed = await client.post(
            "/v1/auth/register", content=chunks(), headers={"content-type": "application/json"}
        )
        assert_problem(streamed, 413)
        login = await client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": "big@example.org", "password": PASSWORD},
        )
        assert login.json()["error"] == "invalid_grant"  # no account was created


async def test_unhandled_error_is_500_logged_with_request_id_and_leaks_nothing(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    app.add_api_route("/v1/test-explode", explode, methods=["GET"])
    with caplog.at_level(logging.ERROR):
        answer = await client.get("/v1/test-explode", headers={"X-Request-ID": "req-12345678"})
    body = assert_problem(answer, 500)
    assert body["request_id"] == "req-12345678"
    assert "hunter2" not in answer.text
    assert "RuntimeError" not in answer.text
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged
    assert logged[0].request_id == "req-12345678"  # type: ignore[attr-defined]
    assert "hunter2" in caplog.text  # the operator does get the details


async def test_request_id_is_generated_when_absent_or_unsafe(client: httpx.AsyncClient) -> None:
    plain = await client.get("/healthz")
    assert len(plain.headers["x-request-id"]) == 32
    unsafe = await client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert unsafe.headers["x-request-id"] != "bad id\nwith newline"


async def test_a_validation_answer_lists_at_most_20_errors_and_counts_them(
    client: httpx.AsyncClient,
) -> None:
    body = {f"unknown{n}": "x" * 100 for n in range(5_000)}
    answer = await client.post("/v1/auth/register", json=body)
    problem = assert_problem(answer, 422)
    errors = problem["errors"]
    assert isinstance(errors, list)
    assert len(errors) == 20
    assert problem["error_count"] == 5_003  # and email, password, display_name missing
    assert len(answer.content) < 10_000
