"""`nwatch import-police-data`: rows written with their grid cells, a re-import of a
month replaces it, skipped rows summarised; the command on a real database."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlmodel import col

from app.db import utcnow
from app.evidence.importer import import_files
from app.evidence.models import PoliceCrime
from app.evidence.police_data import CSV_HEADER, Skipped, read_csv
from app.geo.grid import cell, cell_join
from app.geo.shapes import Circle, circles_touching
from tests.evidence.test_police_data import API, CSV

ROOT = Path(__file__).resolve().parents[2]
MET = "Metropolitan Police Service"


def month_file(path: Path, month: str, rows: int, force: str = MET) -> Path:
    lines = [
        f"c{month}{i},{month},{force},{force},{-0.12 + i * 1e-4:.6f},51.50,On or near X,"
        f"E01000001,X,Burglary,,\n"
        for i in range(rows)
    ]
    path.write_text(CSV_HEADER + "".join(lines))
    return path


async def counts(app: FastAPI) -> tuple[int, int]:
    """The crimes held, and how many of them have their point's grid cell."""
    async with app.state.sessionmaker() as session:
        rows = (
            await session.execute(
                select(col(PoliceCrime.lon), col(PoliceCrime.lat), col(PoliceCrime.cell))
            )
        ).all()
        # Their points are not in the geo index: the grid finds them.
        entries = await session.scalar(text("SELECT count(*) FROM geo_entries"))
    assert entries == 0
    return len(rows), sum(c == cell(x, y) for x, y, c in rows)


async def test_rows_and_their_points_are_imported_and_a_month_again_replaces_it(
    app: FastAPI, tmp_path: Path
) -> None:
    january = month_file(tmp_path / "2024-01-metropolitan-street.csv", "2024-01", 120)
    february = month_file(tmp_path / "2024-02-metropolitan-street.csv", "2024-02", 30)
    city = month_file(tmp_path / "2024-01-city-street.csv", "2024-01", 7, "City of London Police")
    first = await import_files(app.state.sessionmaker, [january, february, city])
    assert (first.rows, first.replaced, len(first.months), len(first.forces)) == (157, 0, 2, 2)
    assert await counts(app) == (157, 157)

    # The Met's January again, now with fewer rows: it replaces that month only.
    again = month_file(tmp_path / "2024-01-metropolitan-street-v2.csv", "2024-01", 50)
    second = await import_files(app.state.sessionmaker, [again])
    assert (second.rows, second.replaced) == (50, 120)
    assert await counts(app) == (50 + 30 + 7, 50 + 30 + 7)
    async with app.state.sessionmaker() as session:
        by_key = dict(
            (
                await session.execute(
                    select(col(PoliceCrime.force), func.count())
                    .where(col(PoliceCrime.crime_id).like("c2024-01%"))
                    .group_by(col(PoliceCrime.force))
                )
            ).all()
        )
        assert by_key == {MET: 50, "City of London Police": 7}
        # The points are found by their cells: within 50 m of the first, 1e-4 degrees (7 m)
        # apart, the Met's January and February hold eight each, the City's seven rows.
        shape = Circle(-0.12, 51.50, 50)
        dialect = session.get_bind().dialect.name
        source, condition, params = cell_join("p.cell", shape.boxes(), dialect)
        found = (
            await session.execute(
                text(f"SELECT p.lon, p.lat FROM {source} JOIN police_crimes p ON {condition}"),  # noqa: S608
                params,
            )
        ).all()
        lons, lats = np.array([x for x, _ in found]), np.array([y for _, y in found])
        assert int(circles_touching(shape, lons, lats, np.zeros(len(found))).sum()) == 8 + 8 + 7


async def test_rows_read_back_as_the_file_gave_them_with_ordered_ids(
    app: FastAPI, tmp_path: Path
) -> None:
    """The rows go to the driver as tuples (SQLite) or arrays (PostgreSQL), past the
    column types: what the ORM reads back must be what the file said."""
    (tmp_path / "mixed.csv").write_text(CSV)
    await import_files(app.state.sessionmaker, [tmp_path / "mixed.csv"])
    expected = list(read_csv(io.StringIO(CSV), Skipped()))
    async with app.state.sessionmaker() as session:
        stored = list(
            (await session.execute(select(PoliceCrime).order_by(col(PoliceCrime.id)))).scalars()
        )
    assert [
        (r.month, r.force, r.crime_id, r.crime_type, r.category, r.lon, r.lat, r.outcome)
        for r in stored
    ] == [
        (e.month, e.force, e.crime_id, e.crime_type, e.category.value, e.lon, e.lat, e.outcome)
        for e in expected
    ]  # in the file's order: the ids follow each other
    assert all(r.id.version == 7 for r in stored)
    assert all(r.imported_at.tzinfo is not None for r in stored)
    assert abs((utcnow() - stored[0].imported_at).total_seconds()) < 3600
    assert [r.cell for r in stored] == [cell(r.lon, r.lat) for r in stored]


async def test_bad_rows_are_skipped_and_counted_and_json_imports_too(
    app: FastAPI, tmp_path: Path
) -> None:
    (tmp_path / "mixed.csv").write_text(CSV)
    (tmp_path / "answer.json").write_text(json.dumps(API))
    summary = await import_files(
        app.state.sessionmaker, [tmp_path / "mixed.csv", tmp_path / "answer.json"]
    )
    assert summary.rows == 3 + 2
    assert summary.skipped.reasons == {"no coordinates": 2, "malformed row": 3}
    assert "skipped: 5" in summary.lines()
    assert await counts(app) == (5, 5)


def test_the_command_prints_a_summary_and_refuses_a_wrong_file(tmp_path: Path) -> None:
    database = tmp_path / "nw.db"
    env = {**os.environ, "NW_DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"], env=env, cwd=ROOT, check=True,
        capture_output=True,
    )  # fmt: skip
    month_file(tmp_path / "2024-03.csv", "2024-03", 12)
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "import-police-data", str(tmp_path / "2024-03.csv")],
        env=env, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "rows: 12" in done.stdout
    assert f"forces: 1 ({MET})" in done.stdout
    (tmp_path / "wrong.csv").write_text("a,b\n1,2\n")
    refused = subprocess.run(
        [sys.executable, "-m", "app.cli", "import-police-data", str(tmp_path / "wrong.csv")],
        env=env, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "not a police.uk street-level CSV" in refused.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "app.cli", "import-police-data", str(tmp_path / "none.csv")],
        env=env, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 2
