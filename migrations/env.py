"""Alembic environment: async engines on SQLite and PostgreSQL, one metadata."""

from __future__ import annotations

import asyncio
from typing import Any, Literal, cast

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import String, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel.sql.sqltypes import AutoString

from app.migrate import include_name, include_object
from app.models import TableModel
from app.settings import Settings

config = context.config
target_metadata = TableModel.metadata


def database_url() -> str:
    url = config.attributes.get("database_url")
    return str(url) if url else Settings().database_url


def render_item(type_: str, obj: Any, _context: AutogenContext) -> str | Literal[False]:
    """SQLModel's AutoString (a `str` field with max_length) is a VARCHAR: migrations
    say `sa.String`, so that they never depend on sqlmodel's types."""
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={cast(String, obj.impl_instance).length!r})"
    return False


def configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=include_name,
        include_object=include_object,
        compare_type=True,
        render_item=render_item,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def run_sync(connection: Connection) -> None:
    configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(run_sync)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_online())
