"""The migrations build exactly the schema the models describe; the OpenAPI file is current."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import create_async_engine

from app.main import create_app
from app.migrate import head_revision, include_name, include_object
from app.models import TableModel
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


async def test_models_and_migrations_agree(database_url: str) -> None:
    # The database was built by the migrations alone (tests/databases.py).
    engine = create_async_engine(database_url)

    def diff(connection: Any) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_name": include_name,
                "include_object": include_object,
            },
        )
        return list(compare_metadata(context, TableModel.metadata))

    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(diff)
            version = await conn.exec_driver_sql("SELECT version_num FROM alembic_version")
            assert version.scalar_one() == head_revision()
    finally:
        await engine.dispose()
    assert differences == []


def test_openapi_document_is_current() -> None:
    committed = json.loads((ROOT / "openapi" / "openapi.json").read_text())
    settings = Settings(database_url="sqlite+aiosqlite://", jwt_secret=SecretStr("o" * 32))
    generated = create_app(settings).openapi()
    assert committed == json.loads(json.dumps(generated)), (
        "openapi/openapi.json is stale: run `nwatch openapi`"
    )


def test_openapi_describes_errors_as_problems_and_names_operations() -> None:
    document = json.loads((ROOT / "openapi" / "openapi.json").read_text())
    operation_ids = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            operation_ids.append(operation["operationId"])
            assert operation.get("tags"), f"{method} {path} has no tag"
            # The token endpoint answers as RFC 6749 §5.2, Open311 as its specification.
            own_errors = path == "/v1/auth/token" or path.startswith("/open311/")
            for status, response in operation["responses"].items():
                if status.startswith("4") and not own_errors:
                    assert "application/problem+json" in response["content"], (method, path, status)
    assert len(operation_ids) == len(set(operation_ids))
    assert "create_token" in operation_ids
    assert "HTTPValidationError" not in document["components"]["schemas"]
    schemes = document["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/v1/auth/token"
