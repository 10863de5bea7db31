"""Every operation of the OpenAPI document, fuzzed in-process by schemathesis.

Anonymous and as a resident, a coordinator (the owner of a group) and an admin: no answer
may be a 5xx, and every answer must match the schema the document gives it. Generation is
derandomized and bounded, so two runs send the same requests. SQLite only: the point is
the request handling, which is the same on both backends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, CheckContext, GenerationMode
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import response_schema_conformance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from app.main import create_app
from app.settings import Settings
from tests import databases
from tests.alerts.factories import issue, watch
from tests.auth.factories import new_account, new_admin
from tests.conftest import settings_for
from tests.groups.factories import new_group
from tests.incidents.factories import SPOT, report

ROLES = ["anonymous", "resident", "coordinator", "admin"]
EXAMPLES = 40  # per operation and role


@schemathesis.check
def no_content_is_unlabelled(ctx: CheckContext, response: Response, case: Case[Any]) -> None:
    """A 204 carries no body, so no Content-Type or Content-Length either (RFC 9110)."""
    if response.status_code == 204:
        assert response.content == b"", case.operation.label
        assert not {"content-type", "content-length"} & set(response.headers), (
            f"{case.operation.label}: 204 with {response.headers}"
        )


CHECKS = [
    schemathesis.checks.not_a_server_error,
    no_content_is_unlabelled,
    response_schema_conformance,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
]


def bounded(examples: int) -> settings:
    """Derandomized and bounded, so that two runs send the same requests."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


@dataclass
class World:
    """The seeded accounts, the ids they may use, and the app under test."""

    app: FastAPI
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, dict[str, str]] = field(default_factory=dict)


async def _seed(settings: Settings) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Accounts and objects, made through the API by an app that is then shut down."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        resident = await new_account(client, display_name="Resident")
        coordinator = await new_account(client, display_name="Coordinator")
        admin = await new_admin(app, client)
        group = await new_group(client, coordinator)
        place = await watch(client, resident, SPOT)
        incident = (await report(client, resident)).json()
        alert = (await issue(client, coordinator, group_id=group["id"], area=None)).json()
    shared = {"group_id": group["id"], "incident_id": incident["id"], "alert_id": alert["id"]}
    ids = {
        "anonymous": shared,
        "resident": {**shared, "place_id": place["id"], "user_id": str(resident.id)},
        "coordinator": {**shared, "user_id": str(resident.id)},
        "admin": {**shared, "user_id": str(resident.id)},
    }
    headers = {
        "anonymous": {},
        "resident": resident.headers,
        "coordinator": coordinator.headers,
        "admin": admin.headers,
    }
    return headers, ids


@pytest.fixture(scope="module")
def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("fuzz")
    url = databases.sqlite_clone(sqlite_template, directory)
    # Firebase sign-in through firebase-admin's emulator mode: configured, and offline.
    settings = settings_for(url, directory / "var", firebase_project_id="nw-fuzz")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
        headers, ids = asyncio.run(_seed(settings))
        yield World(create_app(settings), headers, ids)
        # schemathesis keeps the app's lifespan running for the process: end it here.
        asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def fuzz_schema(world: World) -> OpenApiSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", world.app)


@pytest.mark.parametrize("role", ROLES)
def test_no_operation_answers_5xx_or_off_schema(
    role: str, world: World, fuzz_schema: OpenApiSchema, subtests: pytest.Subtests
) -> None:
    operations = 0
    for result in fuzz_schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operation = result.ok()
        operations += 1
        # Aim at the seeded objects, so that requests get past the 404s; never when
        # deleting, so that the objects stay for the operations fuzzed after.
        ids = {} if operation.method.upper() == "DELETE" else world.ids[role]
        known = {p.name: ids[p.name] for p in operation.path_parameters if p.name in ids}
        cases = st.one_of(
            [
                operation.as_strategy(mode, path_parameters=known or None)
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            ]
        )

        @given(case=cases)
        @bounded(EXAMPLES)
        def fuzz(case: Case[Any]) -> None:
            case.call_and_validate(headers=world.headers[role], checks=CHECKS)

        with subtests.test(msg=operation.label):
            fuzz()
    methods = {"get", "put", "post", "delete", "patch"}
    document = world.app.openapi()["paths"].values()
    assert operations == sum(len(methods & set(item)) for item in document)


# Operations whose every rule is in the document: any request the schema allows, they
# take. (Elsewhere the server checks what a schema cannot say: a ring that closes, a box
# whose min is below its max, an expiry within a week of now, ids that exist.)
AGREEING = ["PUT /v1/me/preferences", "PATCH /v1/me", "GET /v1/groups"]


@pytest.mark.parametrize("label", AGREEING)
def test_what_the_schema_allows_the_server_takes(
    label: str, world: World, fuzz_schema: OpenApiSchema
) -> None:
    [operation] = [
        result.ok()
        for result in fuzz_schema.get_all_operations()
        if isinstance(result, Ok) and result.ok().label == label
    ]

    @given(case=operation.as_strategy(GenerationMode.POSITIVE))
    @bounded(EXAMPLES * 2)
    def fuzz(case: Case[Any]) -> None:
        response = case.call(headers=world.headers["resident"])
        if response.status_code == 400 and (case.query or {}).get("cursor"):
            # A cursor is opaque: the schema cannot tell one the API issued.
            assert response.json()["type"].endswith(":invalid-cursor")
            return
        assert response.status_code < 300, (case.as_curl_command(), response.text)

    fuzz()


def test_the_token_endpoint_refuses_no_form_its_schema_allows_as_malformed(
    world: World, fuzz_schema: OpenApiSchema
) -> None:
    """Each grant's form as the document declares it: what the schema allows, the server
    never calls `invalid_request` (it may still refuse the credentials)."""
    [operation] = [
        result.ok()
        for result in fuzz_schema.get_all_operations()
        if isinstance(result, Ok) and result.ok().label == "POST /v1/auth/token"
    ]
    grants: set[str] = set()

    @given(case=operation.as_strategy(GenerationMode.POSITIVE))
    @bounded(EXAMPLES * 2)
    def fuzz(case: Case[Any]) -> None:
        response = case.call()
        assert response.status_code in (200, 400, 401, 429), response.text
        if response.status_code != 200:
            assert response.json()["error"] != "invalid_request", (
                case.as_curl_command(),
                response.text,
            )
        assert isinstance(case.body, dict)
        grants.add(str(case.body["grant_type"]))

    fuzz()
    assert grants == {"password", "refresh_token", "client_credentials"}
