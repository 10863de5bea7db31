"""Test databases: a migrated template per backend, and a fresh copy for every test.

The template is built by the Alembic migrations (so every run tests them too); each
test gets its own database cloned from it and dropped afterwards, so tests are isolated
and never depend on what an earlier run left behind.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from app.migrate import upgrade

T = TypeVar("T")

POSTGRES_URL = os.environ.get(
    "NW_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("NW_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_SERVICES = os.environ.get("NW_REQUIRE_SERVICES") == "1"


# The extension the migrations create; a module constant so that a test can name a
# missing one.
POSTGIS = "postgis"


def unavailable(
    service: str,
    reason: str,
    remedy: str = "set NW_TEST_POSTGRES_URL / NW_TEST_REDIS_URL to run these",
    problem: str = "is not reachable",
) -> NoReturn:
    """Skip, or fail where the services are required (CI)."""
    message = f"{service} {problem} ({reason})"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} and NW_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(f"{message}; {remedy}")


def in_thread(fn: Any, *args: Any) -> Any:
    """Run blocking code that starts its own event loop (Alembic's env.py does)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def _dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url)
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(_dsn(POSTGRES_URL), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def postgres_admin(sql: str) -> None:
    in_thread(asyncio.run, _admin(sql))


async def postgres_admin_async(sql: str) -> None:
    await _admin(sql)


async def _missing_extension(extension: str) -> int | None:
    """None when the server can create `extension`, else its major version (for the
    package name: Debian's is postgresql-<major>-postgis-3)."""
    conn = await asyncpg.connect(_dsn(POSTGRES_URL), timeout=5)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_available_extensions WHERE name = $1", extension):
            return None
        return int(await conn.fetchval("SHOW server_version_num")) // 10_000
    finally:
        await conn.close()


def missing_extension(extension: str) -> int | None:
    result: int | None = in_thread(asyncio.run, _missing_extension(extension))
    return result


class PostgresTemplate:
    def __init__(self) -> None:
        self.name = f"nw_tpl_{uuid.uuid4().hex[:12]}"

    def create(self) -> None:
        try:
            major = missing_extension(POSTGIS)
            if major is None:
                postgres_admin(f'CREATE DATABASE "{self.name}"')
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            unavailable("PostgreSQL", f"{POSTGRES_URL}: {exc.__class__.__name__}: {exc}")
        if major is not None:
            # Without this check every PostgreSQL test errors in the first migration.
            unavailable(
                "PostgreSQL",
                f"{POSTGRES_URL}: no extension {POSTGIS!r} in pg_available_extensions",
                f"install PostGIS (apt-get install postgresql-{major}-postgis-3) "
                "or set NW_TEST_POSTGRES_URL to a server that has it",
                problem="has no PostGIS",
            )
        in_thread(upgrade, with_database(POSTGRES_URL, self.name))

    def drop(self) -> None:
        postgres_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    async def clone(self) -> str:
        name = f"nw_test_{uuid.uuid4().hex[:12]}"
        await postgres_admin_async(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"')
        return name


def sqlite_template(directory: Path) -> Path:
    path = directory / "template.db"
    in_thread(upgrade, f"sqlite+aiosqlite:///{path}")
    return path


def sqlite_clone(template: Path, directory: Path) -> str:
    target = directory / "nw.db"
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"
