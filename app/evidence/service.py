"""Evidence for an area: police-recorded and resident-reported counts by category and
month over a period, the period before and the same months a year before, and which
categories are rising (app.evidence.rising at LEVEL, one-sided).

Who may ask, and how exactly residents are counted:
- a group's stats (members): on the points the caller is shown, exact counts, as the
  group's weekly figures are;
- any area (`area_stats`: agency officers, admins, coordinators of a verified group): by
  the snapped point alone and rounded (two significant figures, "<10" under ten, zero
  included), so that differencing many small areas says no more than the public grid,
  and a p-value is computed from the figures shown, never from the exact count behind
  them. Police points are published anonymised; they are counted exactly.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
from sqlalchemy import Date, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.alerts.service import disclosed
from app.auth.models import Role, User
from app.categories import Category
from app.evidence.models import PoliceCrime
from app.evidence.months import Months, label
from app.evidence.rising import LEVEL, compare
from app.evidence.schemas import (
    AreaEvidence,
    Count,
    MonthCounts,
    PeriodCounts,
    Source,
    SourceCounts,
    Trend,
)
from app.geo.grid import cell_join
from app.geo.shapes import Shape, circles_touching
from app.groups import service as groups_service
from app.incidents import monthly
from app.problems import forbidden
from app.sqlite_loop import offloaded

MIN_COUNT = 5  # fewer in the current period is never called rising, whatever the test says
# A rounded figure shown as "<10" is taken at the most it can be when it is the period
# compared with (so a rise shown is a rise however small the hidden count), and untested
# when it is the current period.
HIDDEN_AT_MOST = 9

Counts = dict[tuple[str, str], int]  # (YYYY-MM, category) → count


@dataclass(frozen=True)
class Periods:
    current: Months
    previous: Months
    year_ago: Months

    @classmethod
    def of(cls, months: Months) -> Periods:
        return cls(months, months.previous(), months.year_before())

    @property
    def first(self) -> date:
        return min(self.previous.first, self.year_ago.first)

    def each(self) -> list[tuple[str, Months]]:
        return [("current", self.current), ("previous", self.previous), ("year_ago", self.year_ago)]


async def police_counts(session: AsyncSession, shape: Shape, periods: Periods) -> Counts:
    """Police-recorded crimes in `shape` by month and category, over all three periods:
    the candidates by grid cell (app.geo.grid) and month in one statement, then the exact
    test on their points (a borough holds tens of thousands of them a year)."""
    dialect = session.get_bind().dialect.name
    source, condition, params = cell_join("p.cell", shape.boxes(), dialect)
    # SQLite without statistics (it gathers none by itself) would take the month's index
    # and read every crime of the period; a unary + keeps it on the cells' (PostgreSQL
    # plans by its statistics). The ranges drive: a seek of the cells' index each.
    month = "+p.month" if dialect == "sqlite" else "p.month"
    statement = text(
        f"SELECT p.month, p.category, p.lon, p.lat FROM {source}"  # noqa: S608
        f" JOIN police_crimes p ON {condition} WHERE {month} >= :first AND {month} < :end"
    ).bindparams(bindparam("first", type_=Date), bindparam("end", type_=Date))
    if dialect == "postgresql":
        # The statement is the same for every area (the ranges are arrays): after five
        # runs PostgreSQL would plan it once for any array, blind to how many ranges and
        # which months, at twice the time. Planned for each call's own values instead.
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    with offloaded():
        rows = (
            await session.execute(
                statement, {**params, "first": periods.first, "end": periods.current.end}
            )
        ).all()
    if not rows:
        return {}
    n = len(rows)
    inside = circles_touching(
        shape,
        np.fromiter((r[2] for r in rows), float, n),
        np.fromiter((r[3] for r in rows), float, n),
        np.zeros(n),
    )
    # A date on PostgreSQL, ISO text on SQLite: the month is its first seven characters.
    found = Counter((str(r[0])[:7], r[1]) for r, hit in zip(rows, inside, strict=True) if hit)
    return dict(found)


async def police_months(session: AsyncSession, periods: Periods) -> set[str]:
    """The months for which any police data is held (anywhere)."""
    month = col(PoliceCrime.month)
    rows = await session.execute(
        select(month).distinct().where(month >= periods.first, month < periods.current.end)
    )
    return {label(m) for m in rows.scalars()}


def _shown(rounded: bool) -> Callable[[int], Count]:
    return disclosed if rounded else int


def _period(months: Months, counts: Counts, covered: bool, rounded: bool) -> PeriodCounts:
    shown = _shown(rounded)
    labels = [label(m) for m in months.each()]
    totals = {cat.value: sum(counts.get((m, cat.value), 0) for m in labels) for cat in Category}
    return PeriodCounts(
        first=labels[0],
        last=labels[-1],
        covered=covered,
        months=[
            MonthCounts(
                month=m, counts={c.value: shown(counts.get((m, c.value), 0)) for c in Category}
            )
            for m in labels
        ],
        totals={cat: shown(n) for cat, n in totals.items()},
    )


def _source(
    periods: Periods, counts: Counts, covered: dict[str, bool], rounded: bool
) -> SourceCounts:
    made = {
        name: _period(months, counts, covered[name], rounded) for name, months in periods.each()
    }
    return SourceCounts(rounded=rounded, **made)


def _trends(source: Source, counts: SourceCounts, periods: Periods) -> list[Trend]:
    trends = []
    days = periods.current.days
    for category in Category:
        figures = [
            p.totals[category.value] for p in (counts.current, counts.previous, counts.year_ago)
        ]
        current = None if figures[0] == "<10" else int(figures[0])
        tested: list[float | None] = []
        for before, other, period in zip(
            figures[1:],
            (periods.previous, periods.year_ago),
            (counts.previous, counts.year_ago),
            strict=True,
        ):
            if current is None or not period.covered:
                tested.append(None)
                continue
            earlier = HIDDEN_AT_MOST if before == "<10" else int(before)
            tested.append(compare(current, earlier, days / other.days).p_value)
        enough = current is not None and current >= MIN_COUNT
        p_value, p_year = tested
        trends.append(
            Trend(
                source=source,
                category=category,
                current=figures[0],
                previous=figures[1],
                year_ago=figures[2],
                p_value=p_value,
                p_value_year=p_year,
                above_previous=p_value is not None and p_value < LEVEL and enough,
                above_year_ago=None if p_year is None else p_year < LEVEL and enough,
                level=LEVEL,
            )
        )
    return trends


def _is_rising(trend: Trend) -> bool:
    return trend.above_previous and trend.above_year_ago is not False


async def evidence(
    session: AsyncSession,
    shape: Shape,
    months: Months,
    resident_ids: list[uuid.UUID],
    *,
    rounded: bool,
) -> AreaEvidence:
    """The evidence for `shape` over `months`, residents counted among `resident_ids`."""
    periods = Periods.of(months)
    police = await police_counts(session, shape, periods)
    held = await police_months(session, periods)
    residents = await monthly.monthly_counts(session, resident_ids, periods.first, months.end)
    first_report = await monthly.first_report_at(session)
    since = first_report.date().replace(day=1) if first_report else None
    police_covered = {n: all(label(m) in held for m in p.each()) for n, p in periods.each()}
    residents_covered = {n: since is not None and since <= p.first for n, p in periods.each()}
    police_source = _source(periods, police, police_covered, rounded=False)
    residents_source = _source(periods, residents, residents_covered, rounded=rounded)
    trends = _trends("police", police_source, periods) + _trends(
        "residents", residents_source, periods
    )
    return AreaEvidence(
        first=label(months.first),
        last=label(months.last),
        level=LEVEL,
        min_count=MIN_COUNT,
        police=police_source,
        residents=residents_source,
        trends=trends,
        rising=[t for t in trends if _is_rising(t)],
    )


async def group_evidence(
    session: AsyncSession, user: User, area: Shape, months: Months
) -> AreaEvidence:
    """A group's evidence, residents counted on the points `user` is shown."""
    ids = await monthly.seen_in(session, user, area)
    return await evidence(session, area, months, ids, rounded=False)


async def may_see_any_area(session: AsyncSession, user: User) -> bool:
    if user.role in (Role.agency, Role.admin):
        return True
    return await groups_service.coordinates_verified_group(session, user.id)


async def require_area_access(session: AsyncSession, user: User) -> None:
    if not await may_see_any_area(session, user):
        raise forbidden(
            "Area statistics are for agency officers and the coordinators of verified groups."
        )


async def area_stats(session: AsyncSession, shape: Shape, months: Months) -> AreaEvidence:
    """Any area's evidence: residents by the snapped point, rounded (see the module)."""
    ids = await monthly.snapped_in(session, shape)
    return await evidence(session, shape, months, ids, rounded=True)
