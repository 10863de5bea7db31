"""A small police.uk street-level CSV whose counts inside tests.groups.factories.LONDON
were worked out by hand, and residents' reports beside it."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi import FastAPI

from app.evidence.importer import import_files
from app.evidence.police_data import CSV_HEADER
from tests.incidents.factories import seed_rows

IN = (-0.1270, 51.5080)  # inside LONDON (a 1.75 km circle around -0.1276, 51.5072)
OUT = (-0.2000, 51.5500)  # 6 km away
LEEDS = (-1.55, 53.8)
FORCE = "Metropolitan Police Service"

# (month, crime type, where, how many). The period is 2026-08 to 2026-10, the one before
# 2026-05 to 2026-07, a year before 2025-08 to 2025-10 (92 days each).
POLICE = [
    ("2026-08", "Burglary", IN, 3),
    ("2026-09", "Burglary", IN, 5),
    ("2026-09", "Shoplifting", IN, 2),  # theft
    ("2026-09", "Bicycle theft", IN, 1),  # theft
    ("2026-09", "Drugs", IN, 4),
    ("2026-10", "Burglary", IN, 6),
    ("2026-10", "Burglary", OUT, 4),  # outside the area
    ("2026-10", "Vehicle crime", IN, 4),
    ("2026-10", "Drugs", IN, 4),
    ("2026-05", "Burglary", OUT, 1),  # May is held, though nothing happened inside
    ("2026-06", "Burglary", IN, 5),
    ("2026-07", "Other theft", IN, 3),  # theft
    ("2026-07", "Drugs", IN, 1),
    ("2025-08", "Drugs", IN, 7),
    ("2025-09", "Burglary", IN, 4),
    ("2025-10", "Anti-social behaviour", OUT, 2),
    ("2026-11", "Burglary", IN, 9),  # after the period
    ("2026-04", "Burglary", IN, 9),  # before the period before
]
# Inside LONDON, by hand: current, previous, a year before.
POLICE_TOTALS = {
    "current": {"burglary": 14, "theft": 3, "drugs": 8, "vehicle_crime": 4},
    "previous": {"burglary": 5, "theft": 3, "drugs": 1},
    "year_ago": {"drugs": 7, "burglary": 4},
}
POLICE_MONTHS = {
    "2026-08": {"burglary": 3},
    "2026-09": {"burglary": 5, "theft": 3, "drugs": 4},
    "2026-10": {"burglary": 6, "vehicle_crime": 4, "drugs": 4},
}


def police_csv(path: Path, rows: list[tuple[str, str, tuple[float, float], int]] = POLICE) -> Path:
    lines = []
    for n, (month, crime_type, (lon, lat), count) in enumerate(rows):
        for i in range(count):
            lines.append(
                f"c{n}-{i},{month},{FORCE},{FORCE},{lon:.6f},{lat:.6f},On or near X,"
                f"E01000001,Westminster 018A,{crime_type},Under investigation,\n"
            )
    # A row without coordinates, as police.uk publishes some: skipped, never counted.
    lines.append(f"cx,2026-09,{FORCE},{FORCE},,,No location,,,Burglary,,\n")
    path.write_text(CSV_HEADER + "".join(lines))
    return path


async def import_police(app: FastAPI, tmp_path: Path) -> None:
    summary = await import_files(app.state.sessionmaker, [police_csv(tmp_path / "met.csv")])
    assert summary.skipped.total == 1


# Residents' reports: (occurred at, category, status, exact point, snapped point).
RESIDENTS = [
    ("2025-01-15T10:00", "theft", "submitted", LEEDS, LEEDS),  # the first report held
    *[
        (f"2026-{m:02d}-1{d}T10:00", "theft", "submitted", IN, IN)
        for m in (8, 9, 10)
        for d in range(4)
    ],
    ("2026-10-20T10:00", "theft", "rejected", IN, IN),  # rejected: not counted
    ("2026-09-10T10:00", "burglary", "submitted", LEEDS, LEEDS),  # outside
    ("2026-06-10T10:00", "theft", "verified", IN, IN),
    ("2026-06-11T10:00", "theft", "submitted", IN, IN),
    ("2025-09-10T10:00", "theft", "submitted", IN, IN),
    # Exactly inside but shown (snapped) outside: members count it nowhere here.
    ("2026-08-20T10:00", "drugs", "submitted", IN, OUT),
]
RESIDENT_TOTALS = {"current": {"theft": 12}, "previous": {"theft": 2}, "year_ago": {"theft": 1}}


async def seed_residents(app: FastAPI, reporter: uuid.UUID) -> None:
    await seed_rows(app, reporter, RESIDENTS)
