"""Fixtures shared by every test: a database per test on each backend, and the app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.main import create_app
from app.settings import Settings
from tests import databases

BACKENDS = ["sqlite", "postgres"]
VOLUME_LIMITS = (
    "registrations_per_address_per_hour",
    "incidents_per_address_per_hour",
    "groups_per_user_per_day",
    "alerts_per_issuer_per_hour",
    "alerts_per_agency_per_hour",
    "incident_updates_per_user_per_hour",
    "join_requests_per_group_per_day",
    "exports_per_user_per_day",
    "incidents_per_client_per_hour",
    "open311_reads_per_address_per_minute",
    "similar_per_user_per_hour",
    "similar_per_address_per_hour",
)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return databases.sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[databases.PostgresTemplate]:
    template = databases.PostgresTemplate()
    template.create()
    yield template
    template.drop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield databases.sqlite_clone(request.getfixturevalue("sqlite_template"), tmp_path)
        return
    template: databases.PostgresTemplate = request.getfixturevalue("postgres_template")
    name = await template.clone()
    try:
        yield databases.with_database(databases.POSTGRES_URL, name)
    finally:
        await databases.postgres_admin_async(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settings_for(database_url: str, var_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "var_dir": var_dir,
        "jwt_secret": SecretStr("test-secret-" + "x" * 32),
        "redis_url": None,
        # Tests that need the dispatcher drive it themselves, one pass at a time.
        "dispatcher_in_process": False,
        # Cheap hashing: the tests sign in hundreds of times; the cost is a setting.
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 8192,
        # One client address and a few accounts do a whole scenario here: the limits on
        # volume are out of the way, except in the tests of those limits (which set
        # them). The sign-in limits keep their defaults.
        **{name: 10_000 for name in VOLUME_LIMITS},
        **overrides,
    }
    return Settings(**values)


AppFactory = Callable[..., AbstractAsyncContextManager[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
def app_factory(database_url: str, tmp_path: Path) -> AppFactory:
    """Build an app on this test's database with some settings changed, and a client for it."""

    @asynccontextmanager
    async def build(**overrides: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        url = overrides.pop("database_url", database_url)
        app = create_app(settings_for(url, tmp_path / "var", **overrides))
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        ):
            yield app, client

    return build


@pytest.fixture
async def app_and_client(
    app_factory: AppFactory,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with app_factory() as pair:
        yield pair


@pytest.fixture
def app(app_and_client: tuple[FastAPI, httpx.AsyncClient]) -> FastAPI:
    return app_and_client[0]


@pytest.fixture
def client(app_and_client: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return app_and_client[1]


@pytest.fixture
async def live_redis_url() -> AsyncIterator[str]:
    """The test Redis, emptied before and after (skipped, or failed in CI, when away)."""
    redis = Redis.from_url(databases.REDIS_URL)
    try:
        await redis.ping()
    except (RedisError, OSError) as exc:
        await redis.aclose()
        databases.unavailable("Redis", f"{databases.REDIS_URL}: {exc}")
    await redis.flushdb()
    yield databases.REDIS_URL
    await redis.flushdb()
    await redis.aclose()
