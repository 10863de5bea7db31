"""Periods of whole months: police.uk publishes crime by the month it was recorded in,
so evidence compares months with months (a period, the one just before, a year before)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from app.schemas import FIRST_YEAR, LAST_YEAR

MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
DEFAULT_MONTHS = 3  # without `from`/`to`: the last three complete months
MAX_MONTHS = 12  # what `from`/`to` may span (group stats round dates out: at most 13)


def add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def parse_month(text: str) -> date:
    """`YYYY-MM` → the first of that month; ValueError otherwise."""
    if not re.fullmatch(MONTH_PATTERN, text):
        raise ValueError("must be a month, YYYY-MM")
    year, month = int(text[:4]), int(text[5:])
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"must be within {FIRST_YEAR} and {LAST_YEAR}")
    return date(year, month, 1)


@dataclass(frozen=True)
class Months:
    """`first` to `last`, both the first of their month, both included."""

    first: date
    last: date

    @classmethod
    def last_complete(cls, today: date, count: int = DEFAULT_MONTHS) -> Months:
        last = add_months(today.replace(day=1), -1)
        return cls(add_months(last, 1 - count), last)

    @classmethod
    def covering(cls, start: date, end: date) -> Months:
        """The whole months that hold the days `start` to `end` (exclusive)."""
        return cls(start.replace(day=1), date.fromordinal(end.toordinal() - 1).replace(day=1))

    @property
    def count(self) -> int:
        return (self.last.year - self.first.year) * 12 + self.last.month - self.first.month + 1

    @property
    def end(self) -> date:
        """The first day after the period."""
        return add_months(self.last, 1)

    @property
    def days(self) -> int:
        return (self.end - self.first).days

    def shifted(self, months: int) -> Months:
        return Months(add_months(self.first, months), add_months(self.last, months))

    def previous(self) -> Months:
        return self.shifted(-self.count)

    def year_before(self) -> Months:
        return self.shifted(-12)

    def each(self) -> list[date]:
        return [add_months(self.first, i) for i in range(self.count)]


def label(month: date) -> str:
    return f"{month:%Y-%m}"
