"""A group's stats with police-recorded and resident-reported counts by month, checked
against the hand-computed fixture (tests.evidence.fixtures), and what is rising in it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from scipy.stats import binomtest  # type: ignore[import-untyped]

from app.categories import Category
from app.evidence.months import Months
from tests.auth.factories import new_account
from tests.evidence.fixtures import (
    POLICE_MONTHS,
    POLICE_TOTALS,
    RESIDENT_TOTALS,
    import_police,
    seed_residents,
)
from tests.groups.factories import join, new_group

PERIOD = {"from": "2026-08-01", "to": "2026-11-01"}
PERIODS = ("current", "previous", "year_ago")


def dense(totals: dict[str, int]) -> dict[str, int]:
    return {c.value: totals.get(c.value, 0) for c in Category}


def greater(current: int, before: int) -> float:
    """scipy's answer: the one-sided exact binomial test of equal rates, equal periods."""
    return float(binomtest(current, current + before, 0.5, alternative="greater").pvalue)


def nonzero_months(period: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {
        m["month"]: {k: v for k, v in m["counts"].items() if v}
        for m in period["months"]
        if any(m["counts"].values())
    }


async def group_stats(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path, params: dict[str, str] | None
) -> dict[str, Any]:
    owner, member, reporter = [await new_account(client) for _ in range(3)]
    group = await new_group(client, owner, join_policy="open")
    await join(client, member, group["id"])
    await import_police(app, tmp_path)
    await seed_residents(app, reporter.id)
    answer = await client.get(
        f"/v1/groups/{group['id']}/stats", headers=member.headers, params=params
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_police_and_resident_counts_by_month_in_three_periods(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    body = await group_stats(app, client, tmp_path, PERIOD)
    # The weekly figures are as they were.
    assert set(body) == {"current", "previous", "evidence"}
    assert body["current"]["start"] == "2026-08-01"
    assert body["current"]["totals"] == {"theft": 12}
    evidence = body["evidence"]
    assert (evidence["first"], evidence["last"], evidence["level"]) == ("2026-08", "2026-10", 0.05)
    police, residents = evidence["police"], evidence["residents"]
    spans = {name: (police[name]["first"], police[name]["last"]) for name in PERIODS}
    assert spans == {
        "current": ("2026-08", "2026-10"),
        "previous": ("2026-05", "2026-07"),
        "year_ago": ("2025-08", "2025-10"),
    }
    for name in PERIODS:
        assert police[name]["totals"] == dense(POLICE_TOTALS[name]), name
        assert police[name]["covered"], name
        assert residents[name]["totals"] == dense(RESIDENT_TOTALS[name]), name
        assert residents[name]["covered"], name
    assert nonzero_months(police["current"]) == POLICE_MONTHS
    assert [m["month"] for m in police["current"]["months"]] == ["2026-08", "2026-09", "2026-10"]
    assert nonzero_months(residents["current"]) == {
        m: {"theft": 4} for m in ("2026-08", "2026-09", "2026-10")
    }
    assert not police["rounded"]
    assert not residents["rounded"]


async def test_what_is_rising_is_scipys_answer_and_noise_is_not(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    evidence = (await group_stats(app, client, tmp_path, PERIOD))["evidence"]
    trends = {(t["source"], t["category"]): t for t in evidence["trends"]}
    assert len(trends) == 2 * len(Category)
    burglary = trends[("police", "burglary")]
    assert (burglary["current"], burglary["previous"], burglary["year_ago"]) == (14, 5, 4)
    assert burglary["p_value"] == pytest.approx(greater(14, 5), rel=1e-9)  # 0.0318
    assert burglary["p_value_year"] == pytest.approx(greater(14, 4), rel=1e-9)
    assert burglary["above_previous"]
    assert burglary["above_year_ago"]
    theft = trends[("residents", "theft")]
    assert (theft["current"], theft["previous"], theft["year_ago"]) == (12, 2, 1)
    assert theft["p_value"] == pytest.approx(greater(12, 2), rel=1e-9)
    # Up on the months before (8 against 1), but as many as a year ago: the season.
    drugs = trends[("police", "drugs")]
    assert drugs["p_value"] == pytest.approx(greater(8, 1), rel=1e-9)
    assert drugs["above_previous"]
    assert drugs["above_year_ago"] is False
    # 4 against 0 is chance (p = 0.0625); 3 against 3 plainly so.
    vehicles = trends[("police", "vehicle_crime")]
    assert vehicles["p_value"] == pytest.approx(0.0625)
    assert not vehicles["above_previous"]
    assert not trends[("police", "theft")]["above_previous"]
    rising = {(t["source"], t["category"]) for t in evidence["rising"]}
    assert rising == {("police", "burglary"), ("residents", "theft")}


async def test_the_months_are_those_holding_the_days_asked_or_the_last_three_complete(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    body = await group_stats(app, client, tmp_path, {"from": "2026-08-15", "to": "2026-10-02"})
    assert (body["evidence"]["first"], body["evidence"]["last"]) == ("2026-08", "2026-10")
    owner = await new_account(client)
    group = await new_group(client, owner)
    answer = await client.get(f"/v1/groups/{group['id']}/stats", headers=owner.headers)
    assert answer.status_code == 200, answer.text
    expected = Months.last_complete(datetime.now(UTC).date())
    evidence = answer.json()["evidence"]
    assert (evidence["first"], evidence["last"]) == (
        f"{expected.first:%Y-%m}",
        f"{expected.last:%Y-%m}",
    )
    assert expected.count == 3


def test_periods_of_months() -> None:
    months = Months.last_complete(date(2026, 1, 20))
    assert (months.first, months.last) == (date(2025, 10, 1), date(2025, 12, 1))
    assert months.previous() == Months(date(2025, 7, 1), date(2025, 9, 1))
    assert months.year_before() == Months(date(2024, 10, 1), date(2024, 12, 1))
    assert months.days == 92
    assert months.end == date(2026, 1, 1)
    assert Months.covering(date(2026, 2, 28), date(2026, 3, 1)) == Months(
        date(2026, 2, 1), date(2026, 2, 1)
    )
