"""Passwords (NIST SP 800-63B §3.1.1.2): kept exactly as typed, at least 8 characters,
and not one of the commonly used ones."""

from __future__ import annotations

import httpx
import pytest

from tests.auth.factories import sign_in


async def register(client: httpx.AsyncClient, password: str) -> httpx.Response:
    return await client.post(
        "/v1/auth/register",
        json={"email": "pat@example.org", "password": password, "display_name": "Pat"},
    )


async def test_a_passphrase_with_spaces_registers_and_signs_in(client: httpx.AsyncClient) -> None:
    passphrase = "  tall  trees whisper at dusk  "
    assert (await register(client, passphrase)).status_code == 201
    answer = await sign_in(client, "pat@example.org", passphrase)
    assert answer.status_code == 200, answer.text
    stripped = await sign_in(client, "pat@example.org", passphrase.strip())
    assert stripped.status_code == 400


@pytest.mark.parametrize("password", ["password", "12345678", "qwertyuiop", "PassWord", "1234567"])
async def test_short_and_common_passwords_are_refused(
    client: httpx.AsyncClient, password: str
) -> None:
    answer = await register(client, password)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"][0]["field"] == "password"
