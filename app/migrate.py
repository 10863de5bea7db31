"""Running the Alembic migrations from code (`nwatch migrate`, `make run`, the tests)."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

# Beside the package in a checkout; an installed image says where with NW_MIGRATIONS_DIR.
MIGRATIONS_DIR = Path(
    os.environ.get("NW_MIGRATIONS_DIR", Path(__file__).resolve().parent.parent / "migrations")
)


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Read by migrations/env.py in preference to Settings.
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database. Must be called with no event loop running in this thread."""
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None, "no migrations found"
    return head


# Objects that exist in the database but not in the models, on purpose: PostGIS's own
# table, the SQLite R*Tree (a virtual table and its shadow tables) and the PostGIS bbox
# column with its GiST index, which the geo index manages through raw SQL.
def include_name(name: str | None, type_: str, _parents: object) -> bool:
    if type_ == "table":
        return not (name == "spatial_ref_sys" or (name or "").startswith("geo_rtree"))
    return True


def include_object(
    _obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    unmodelled = {("column", "bbox"), ("index", "ix_geo_entries_bbox")}
    return not (reflected and compare_to is None and (type_, name) in unmodelled)
