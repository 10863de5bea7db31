"""The test databases themselves: a PostgreSQL without PostGIS is skipped with one line
that says how to install it (failed where the services are required), never 179 errors."""

from __future__ import annotations

import asyncio
import re

import asyncpg
import pytest

from tests import databases

NO_SUCH_EXTENSION = "nw_no_such_extension"


def _reachable() -> None:
    try:
        databases.postgres_admin("SELECT 1")
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        databases.unavailable("PostgreSQL", f"{databases.POSTGRES_URL}: {exc}")


def _template_databases() -> set[str]:
    async def names() -> set[str]:
        conn = await asyncpg.connect(databases._dsn(databases.POSTGRES_URL), timeout=5)
        try:
            rows = await conn.fetch("SELECT datname FROM pg_database")
        finally:
            await conn.close()
        return {r["datname"] for r in rows}

    result: set[str] = databases.in_thread(asyncio.run, names())
    return result


def _create_without_postgis(monkeypatch: pytest.MonkeyPatch, require: bool) -> str:
    """Build a template on a server that reports the extension missing; returns what
    pytest was told."""
    # raising=False: on code without the check the name is set but unused, and the
    # template is built as before (the test then fails on "did not raise").
    monkeypatch.setattr(databases, "POSTGIS", NO_SUCH_EXTENSION, raising=False)
    monkeypatch.setattr(databases, "REQUIRE_SERVICES", require)
    template = databases.PostgresTemplate()
    before = _template_databases()
    expected = pytest.fail.Exception if require else pytest.skip.Exception
    try:
        with pytest.raises(expected) as outcome:
            template.create()
    finally:
        template.drop()
    assert _template_databases() == before  # nothing half-built left behind
    return str(outcome.value)


def test_postgis_is_reported_available_on_this_server() -> None:
    _reachable()
    assert databases.missing_extension("postgis") is None


def test_a_missing_postgis_skips_with_one_line_saying_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _reachable()
    message = _create_without_postgis(monkeypatch, require=False)
    assert "\n" not in message
    assert "has no PostGIS" in message
    assert NO_SUCH_EXTENSION in message
    assert re.search(r"\(apt-get install postgresql-\d+-postgis-3\)", message)


def test_a_missing_postgis_fails_where_the_services_are_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _reachable()
    message = _create_without_postgis(monkeypatch, require=True)
    assert "has no PostGIS" in message
    assert "NW_REQUIRE_SERVICES=1" in message
