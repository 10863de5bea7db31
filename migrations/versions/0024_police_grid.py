"""police grid: police.uk's crimes found by a grid cell of their own, not the geo index

`police_crimes.cell` is `app.geo.grid.cell(lon, lat)`, indexed with the month; the
crimes' entries in the geo index (collection `police`, and their R*Tree boxes on
SQLite) go. Writing a crime's tree entry cost more than writing the crime.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# app.geo.grid at this revision: 100 cells a degree, 36,001 a row. Both operands are
# non-negative, so truncation (SQLite's CAST) is the floor that int() takes in Python.
_ROW = "CAST((min(max(lat, -90.0), 90.0) + 90.0) * 100 AS INTEGER)"
_COLUMN = "CAST((min(max(lon, -180.0), 180.0) + 180.0) * 100 AS INTEGER)"
_PG_ROW = "floor((least(greatest(lat, -90.0), 90.0) + 90.0) * 100)::bigint"
_PG_COLUMN = "floor((least(greatest(lon, -180.0), 180.0) + 180.0) * 100)::bigint"
_PAD = 1e-9  # app.geo.shapes._BOX_PAD_DEG: a point's box in the geo index


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("police_crimes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cell", sa.BigInteger(), nullable=True))
    row, column = (_ROW, _COLUMN) if sqlite else (_PG_ROW, _PG_COLUMN)
    op.execute(f"UPDATE police_crimes SET cell = {row} * 36001 + {column}")  # noqa: S608
    with op.batch_alter_table("police_crimes", schema=None) as batch_op:
        batch_op.alter_column("cell", existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_index("ix_police_crimes_cell_month", ["cell", "month"], unique=False)

    if sqlite:
        op.execute(
            "DELETE FROM geo_rtree WHERE id / 4 IN"
            " (SELECT id FROM geo_entries WHERE collection = 'police')"
        )
    op.execute("DELETE FROM geo_entries WHERE collection = 'police'")


def downgrade() -> None:
    op.execute(
        "INSERT INTO geo_entries (collection, object_id, kind, lon, lat, radius_m)"
        " SELECT 'police', id, 'circle', lon, lat, 0.0 FROM police_crimes"
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "INSERT INTO geo_rtree (id, min_lon, max_lon, min_lat, max_lat)"
            f" SELECT id * 4, lon - {_PAD}, lon + {_PAD}, lat - {_PAD}, lat + {_PAD}"  # noqa: S608
            " FROM geo_entries WHERE collection = 'police'"
        )
    else:
        op.execute(
            "UPDATE geo_entries SET bbox = ST_Multi(ST_MakeEnvelope("
            f"lon - {_PAD}, lat - {_PAD}, lon + {_PAD}, lat + {_PAD}, 4326))"
            " WHERE collection = 'police'"
        )
    with op.batch_alter_table("police_crimes", schema=None) as batch_op:
        batch_op.drop_index("ix_police_crimes_cell_month")
        batch_op.drop_column("cell")
