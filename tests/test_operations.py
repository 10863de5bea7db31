"""Health, readiness, metrics, settings that must refuse to start, and the CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from app.main import create_app
from app.settings import ConfigurationError, Settings
from tests.auth.factories import PASSWORD, sign_in
from tests.conftest import AppFactory

ROOT = Path(__file__).resolve().parent.parent


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


async def test_readyz_is_503_on_an_unmigrated_database(
    backend: str, tmp_path: Path, app_factory: AppFactory
) -> None:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        async with app_factory(database_url=url) as (_app, client):
            answer = await client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["status"] == "unavailable"
    else:
        async with app_factory() as (app, client):
            async with app.state.engine.begin() as conn:
                from sqlalchemy import text

                await conn.execute(text("UPDATE alembic_version SET version_num = 'old'"))
            answer = await client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["schema_revision"] == "old"


async def test_metrics_count_requests(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    text = (await client.get("/metrics")).text
    assert 'nw_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text


def test_scaled_shape_refuses_to_start_without_a_secret() -> None:
    settings = Settings(database_url="postgresql+asyncpg://db/nw", jwt_secret=None)
    with pytest.raises(ConfigurationError, match="NW_JWT_SECRET"):
        create_app(settings)
    with pytest.raises(ConfigurationError, match="32"):
        Settings(database_url="sqlite+aiosqlite://", jwt_secret=SecretStr("short")).check()


def test_embedded_shape_generates_and_keeps_its_secret(tmp_path: Path) -> None:
    settings = Settings(database_url="sqlite+aiosqlite://", var_dir=tmp_path, jwt_secret=None)
    create_app(settings)
    secret_file = tmp_path / "jwt_secret"
    first = secret_file.read_text()
    assert len(first) >= 32
    assert secret_file.stat().st_mode & 0o777 == 0o600
    create_app(settings)
    assert secret_file.read_text() == first


async def create_admin(database_url: str, password: str) -> subprocess.CompletedProcess[str]:
    """`nwatch create-admin` as an operator runs it, in its own process."""
    env = {
        **os.environ,
        "NW_DATABASE_URL": database_url,
        "NW_ADMIN_PASSWORD": password,
        "NW_JWT_SECRET": "x" * 40,
    }
    command = [sys.executable, "-m", "app.cli", "create-admin", "--email", "Root@Example.org"]
    return await asyncio.to_thread(
        subprocess.run,
        command,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_create_admin_command(database_url: str, client: httpx.AsyncClient) -> None:
    done = await create_admin(database_url, PASSWORD)
    assert done.returncode == 0, done.stderr
    assert "created admin" in done.stderr
    tokens = (await sign_in(client, "root@example.org")).json()
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.json()["role"] == "admin"


async def test_create_admin_refuses_a_common_password(database_url: str) -> None:
    done = await create_admin(database_url, "password1")
    assert done.returncode == 2
    assert "most commonly used" in done.stderr
