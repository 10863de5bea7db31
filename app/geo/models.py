from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import BigInteger, Integer, UniqueConstraint
from sqlmodel import Field

from app.db import JSONDoc, TableModel


class GeoEntry(TableModel, table=True):
    """A shape stored for spatial search, in a named collection (group areas, places…).

    The index proper is backend-specific and lives beside this table: an R*Tree virtual
    table on SQLite, a `bbox` geometry column with a GiST index on PostgreSQL (both
    created by the migrations, see `app/geo/index.py`).
    """

    __tablename__ = "geo_entries"
    __table_args__ = (UniqueConstraint("collection", "object_id"),)

    # INTEGER PRIMARY KEY on SQLite (the rowid, which the R*Tree ids derive from).
    id: int = Field(
        primary_key=True,
        sa_type=BigInteger().with_variant(Integer(), "sqlite"),
        sa_column_kwargs={"autoincrement": True},
    )
    collection: str = Field(max_length=24)
    object_id: uuid.UUID
    kind: str = Field(max_length=8)  # circle | polygon
    lon: float | None = None
    lat: float | None = None
    radius_m: float | None = None
    geojson: dict[str, Any] | None = Field(default=None, sa_type=JSONDoc)
    # Who the shape belongs to, where that matters for search (a place's resident), so
    # hot queries need not join back to the owning table.
    owner_id: uuid.UUID | None = None
