"""Police-recorded crime as data.police.uk publishes it, read a row at a time.

Two shapes: the monthly street-level CSV files of the bulk download (`Crime ID, Month,
Reported by, Falls within, Longitude, Latitude, Location, LSOA code, LSOA name, Crime
type, Last outcome category, Context`), and the JSON of the police.uk API's
`crimes-street` answer (an array of objects with `category`, `location.latitude` and
`.longitude`, `month`, `outcome_status`, `persistent_id`). Both are read as streams, so a
force's year (hundreds of thousands of rows) takes memory that does not grow with the
file. A row that cannot be used (no coordinates, a bad month, a bad number) is counted
under its reason and skipped, never fatal. The points are police.uk's: already moved
to anonymous map points, so they are kept as given.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import IO, Any

from app.categories import Category

# police.uk crime types (the CSV's "Crime type") and API category slugs, to ours.
# Types we have no category for (possession of weapons, "other crime") become `other`.
CRIME_TYPES: dict[str, Category] = {
    "Anti-social behaviour": Category.anti_social_behaviour,
    "Bicycle theft": Category.theft,
    "Burglary": Category.burglary,
    "Criminal damage and arson": Category.criminal_damage_arson,
    "Drugs": Category.drugs,
    "Other theft": Category.theft,
    "Possession of weapons": Category.other,
    "Public order": Category.public_order,
    "Robbery": Category.violence,  # theft by force or threat of it
    "Shoplifting": Category.theft,
    "Theft from the person": Category.theft,
    "Vehicle crime": Category.vehicle_crime,
    "Violence and sexual offences": Category.violence,
    "Other crime": Category.other,
}
API_CATEGORIES: dict[str, Category] = {
    "anti-social-behaviour": Category.anti_social_behaviour,
    "bicycle-theft": Category.theft,
    "burglary": Category.burglary,
    "criminal-damage-arson": Category.criminal_damage_arson,
    "drugs": Category.drugs,
    "other-theft": Category.theft,
    "possession-of-weapons": Category.other,
    "public-order": Category.public_order,
    "robbery": Category.violence,
    "shoplifting": Category.theft,
    "theft-from-the-person": Category.theft,
    "vehicle-crime": Category.vehicle_crime,
    "violent-crime": Category.violence,
    "other-crime": Category.other,
}
# The bulk download's header line, and the columns the import cannot do without.
CSV_HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,"
    "LSOA name,Crime type,Last outcome category,Context\n"
)
CSV_COLUMNS = ("Month", "Longitude", "Latitude", "Crime type")
_READ = 64 * 1024


@dataclass(frozen=True)
class PoliceCrime:
    month: date  # the first of the month it was recorded in
    lon: float
    lat: float
    category: Category
    crime_type: str  # as police.uk names it
    force: str | None  # "Falls within" (CSV); the API answer does not say
    crime_id: str | None  # the CSV's Crime ID or the API's persistent_id (empty for ASB)
    outcome: str | None


@dataclass
class Skipped:
    """Rows left out, by reason."""

    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, reason: str) -> None:
        self.reasons[reason] += 1

    @property
    def total(self) -> int:
        return sum(self.reasons.values())


def category_of(crime_type: str) -> Category:
    return CRIME_TYPES.get(crime_type.strip()) or API_CATEGORIES.get(
        crime_type.strip(), Category.other
    )


@lru_cache(maxsize=1024)  # a file holds a few months, each on thousands of rows
def _month(text: str) -> date:
    year, month = text.strip().split("-")[:2]
    return date(int(year), int(month), 1)


def _point(lon: Any, lat: Any) -> tuple[float, float] | None:
    """None when either is missing; ValueError when not a number or out of range."""
    if lon in (None, "") or lat in (None, ""):
        return None
    x, y = float(lon), float(lat)
    if not (-180 <= x <= 180 and -90 <= y <= 90):
        raise ValueError("coordinates out of range")
    return x, y


def read_csv(stream: IO[str], skipped: Skipped) -> Iterator[PoliceCrime]:
    # csv.reader and the columns by position: a DictReader builds a dict per row, a
    # fifth of the import's time for a large file.
    reader = csv.reader(stream)
    header = next(reader, None) or []
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"not a police.uk street-level CSV: no column {', '.join(missing)}")
    width = len(header)
    at = {name: i for i, name in reversed(list(enumerate(header)))}  # the first of a name
    month_at, lon_at, lat_at, type_at = (at[c] for c in CSV_COLUMNS)
    # Columns the import can do without: a row of "" stands in for one the file lacks.
    force_at, crime_at, outcome_at = (
        at.get(c, width) for c in ("Falls within", "Crime ID", "Last outcome category")
    )
    for row in reader:
        if not row:  # a blank line, as DictReader skips them
            continue
        if len(row) != width:  # short or long: to the header's width
            row = (row + [""] * width)[:width]
        row.append("")  # what an absent optional column reads
        try:
            point = _point(row[lon_at], row[lat_at])
            if point is None:
                skipped.add("no coordinates")
                continue
            month = _month(row[month_at])
        except (ValueError, TypeError, AttributeError):
            skipped.add("malformed row")
            continue
        crime_type = row[type_at].strip()
        yield PoliceCrime(
            month,
            point[0],
            point[1],
            category_of(crime_type),
            crime_type,
            row[force_at].strip() or None,
            row[crime_at].strip() or None,
            row[outcome_at].strip() or None,
        )


def read_json(stream: IO[str], skipped: Skipped) -> Iterator[PoliceCrime]:
    for item in _array_items(stream):
        try:
            location = item["location"]
            point = _point(location.get("longitude"), location.get("latitude"))
            if point is None:
                skipped.add("no coordinates")
                continue
            month = _month(item["month"])
            category = str(item["category"])
        except (KeyError, ValueError, TypeError, AttributeError):
            skipped.add("malformed row")
            continue
        outcome = item.get("outcome_status")
        yield PoliceCrime(
            month,
            point[0],
            point[1],
            category_of(category),
            category,
            None,
            str(item.get("persistent_id") or "") or None,
            outcome.get("category") if isinstance(outcome, dict) else None,
        )


def _array_items(stream: IO[str]) -> Iterator[Any]:
    """The elements of a top-level JSON array, decoded one at a time from a stream."""
    decoder = json.JSONDecoder()
    buffer = ""
    at = 0
    started = False

    def more() -> bool:
        nonlocal buffer, at
        chunk = stream.read(_READ)
        buffer = buffer[at:] + chunk
        at = 0
        return bool(chunk)

    while True:
        while at < len(buffer) and buffer[at] in " \t\r\n" + ("," if started else ""):
            at += 1
        if at >= len(buffer):
            if not more():
                raise ValueError("the JSON array is not closed")
            continue
        if not started:
            if buffer[at] != "[":
                raise ValueError("not a JSON array (a crimes-street answer is one)")
            started = True
            at += 1
            continue
        if buffer[at] == "]":
            return
        try:
            item, end = decoder.raw_decode(buffer, at)
        except json.JSONDecodeError:
            if not more():
                raise ValueError("the JSON array ends inside an element") from None
            continue
        at = end
        yield item


def read(stream: IO[bytes], name: str, skipped: Skipped) -> Iterator[PoliceCrime]:
    """By the file's name: `.json` the API's shape, anything else the CSV."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    if name.lower().endswith(".json"):
        return read_json(text, skipped)
    return read_csv(text, skipped)
