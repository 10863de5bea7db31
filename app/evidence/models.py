from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index
from sqlmodel import Field

from app.db import JSONDoc, TableModel, UTCDateTime, created_now, new_id, updated_now


class PoliceCrime(TableModel, table=True):
    """One crime as police.uk publishes it: a month and an anonymised map point, found by
    its grid cell (app.geo.grid: cheaper to write in bulk than the geo index's trees).
    Re-importing a force's month replaces that month."""

    __tablename__ = "police_crimes"
    __table_args__ = (
        Index("ix_police_crimes_force_month", "force", "month"),
        Index("ix_police_crimes_cell_month", "cell", "month"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    month: date = Field(sa_type=Date, index=True)  # the first of the month
    force: str | None = Field(default=None, max_length=80)  # "Falls within"; none from the API
    crime_id: str | None = Field(default=None, max_length=80)
    crime_type: str = Field(max_length=64)  # police.uk's name for it
    category: str = Field(max_length=32)  # ours (app.evidence.police_data.CRIME_TYPES)
    lon: float
    lat: float
    cell: int = Field(sa_type=BigInteger)  # app.geo.grid.cell(lon, lat)
    outcome: str | None = Field(default=None, max_length=120)
    imported_at: datetime = created_now()


class EvidenceCheck(TableModel, table=True):
    """The weekly evidence check of one verified group (app.evidence.checks): when it last
    ran, so that a restarted worker does not check (nor notify) again before it is due,
    and what it last told the coordinators, so that a rise is told once per period."""

    __tablename__ = "evidence_checks"

    group_id: uuid.UUID = Field(foreign_key="groups.id", ondelete="CASCADE", primary_key=True)
    checked_at: datetime = Field(sa_type=UTCDateTime)
    period_last: date = Field(sa_type=Date)  # the last month of the period checked
    # "source:category" of each rise told for that period
    notified: list[str] = Field(default_factory=list, sa_type=JSONDoc)


class PreventionAction(TableModel, table=True):
    """One action of the prevention library: ours (`built_in`, seeded with fixed ids by
    migration 0022 from app.evidence.prevention) or added by an admin or agency officer.
    Alerts copy an action's text and link when issued, so that editing or deleting one
    here never rewrites what an alert said."""

    __tablename__ = "prevention_actions"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    # `<category>.<slug>` for the built-in ones; none for those added since.
    key: str | None = Field(default=None, max_length=80, unique=True)
    category: str = Field(max_length=32, index=True)
    text: str = Field(max_length=200)
    url: str | None = Field(default=None, max_length=500)
    built_in: bool = False
    created_by: uuid.UUID | None = Field(
        default=None, foreign_key="users.id", ondelete="SET NULL", index=True
    )
    created_at: datetime = created_now()
    updated_at: datetime = updated_now()
