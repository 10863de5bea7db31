from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import BigInteger, Float, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONDoc


class GeoEntry(Base):
    """A shape stored for spatial search, in a named collection (group areas, places…).

    The index proper is backend-specific and lives beside this table: an R*Tree virtual
    table on SQLite, a `bbox` geometry column with a GiST index on PostgreSQL (both
    created by the migrations, see `app/geo/index.py`).
    """

    __tablename__ = "geo_entries"
    __table_args__ = (UniqueConstraint("collection", "object_id"),)

    # INTEGER PRIMARY KEY on SQLite (the rowid, which the R*Tree ids derive from).
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    collection: Mapped[str] = mapped_column(String(24))
    object_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(8))  # circle | polygon
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    radius_m: Mapped[float | None] = mapped_column(Float)
    geojson: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    # Who the shape belongs to, where that matters for search (a place's resident), so
    # hot queries need not join back to the owning table.
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
