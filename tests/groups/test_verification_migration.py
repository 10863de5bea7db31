"""Migration 0011: groups that existed before verification are unverified after it."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from app.migrate import upgrade
from tests.databases import in_thread


def test_existing_groups_become_unverified(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    in_thread(upgrade, url, "0010")
    group_id = uuid.uuid4().hex
    sync = create_engine(f"sqlite:///{path}")
    with sync.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO groups (id, name, area, visibility, join_policy, created_at,"
                " updated_at) VALUES (:id, 'Old Watch', '{}', 'public', 'open',"
                " '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            ),
            {"id": group_id},
        )
    in_thread(upgrade, url, "head")
    with sync.connect() as conn:
        row = conn.execute(
            text("SELECT verification, verified_at FROM groups WHERE id = :id"), {"id": group_id}
        ).one()
    sync.dispose()
    assert tuple(row) == ("unverified", None)
