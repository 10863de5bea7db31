"""Reading police.uk's street-level CSV and crimes-street JSON: fixtures in the published
formats, malformed rows and rows without coordinates counted, the category mapping, and
reading as a stream."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest

from app.categories import Category
from app.evidence.police_data import (
    API_CATEGORIES,
    CRIME_TYPES,
    CSV_HEADER,
    Skipped,
    category_of,
    read,
    read_csv,
    read_json,
)

CSV = CSV_HEADER + (
    ",2024-01,Metropolitan Police Service,Metropolitan Police Service,-0.120001,51.501234,"
    "On or near Parking Area,E01000001,City of London 001A,Anti-social behaviour,,\n"
    "9f4c2a,2024-01,Metropolitan Police Service,Metropolitan Police Service,-0.121,51.502,"
    '"On or near Elm Street, Lambeth",E01000002,Lambeth 001B,Burglary,'
    "Investigation complete; no suspect identified,\n"
    "77aa01,2024-01,Metropolitan Police Service,Metropolitan Police Service,,,No location,"
    ",,Vehicle crime,Under investigation,\n"
    "88bb02,2024-13x,Metropolitan Police Service,Metropolitan Police Service,-0.12,51.5,"
    "On or near X,E01000003,Y,Robbery,,\n"
    "99cc03,2024-02,Metropolitan Police Service,Metropolitan Police Service,north,51.5,"
    "On or near X,E01000003,Y,Drugs,,\n"
    "aa0004,2024-02,City of London Police,City of London Police,-0.09,51.515,On or near Z,"
    "E01000004,Z,Other crime,Court result unavailable,\n"
)
API = [
    {
        "category": "anti-social-behaviour",
        "location_type": "Force",
        "location": {
            "latitude": "52.640961",
            "street": {"id": 884343, "name": "On or near Wharf Street North"},
            "longitude": "-1.126371",
        },
        "context": "",
        "outcome_status": None,
        "persistent_id": "",
        "id": 54164419,
        "location_subtype": "",
        "month": "2017-01",
    },
    {
        "category": "violent-crime",
        "location_type": "Force",
        "location": {"latitude": "52.633", "street": {"id": 1, "name": "X"}, "longitude": "-1.13"},
        "context": "",
        "outcome_status": {"category": "Unable to prosecute suspect", "date": "2017-02"},
        "persistent_id": "4d8d2b",
        "id": 54164420,
        "location_subtype": "",
        "month": "2017-01",
    },
    {"category": "burglary", "location": None, "month": "2017-01"},  # malformed
    {"category": "drugs", "location": {"latitude": "", "longitude": ""}, "month": "2017-01"},
]


def test_the_csv_is_read_with_its_bad_rows_counted() -> None:
    skipped = Skipped()
    rows = list(read_csv(io.StringIO(CSV), skipped))
    assert [(r.month, r.category, r.crime_type) for r in rows] == [
        (date(2024, 1, 1), Category.anti_social_behaviour, "Anti-social behaviour"),
        (date(2024, 1, 1), Category.burglary, "Burglary"),
        (date(2024, 2, 1), Category.other, "Other crime"),
    ]
    first, second, third = rows
    assert (first.lon, first.lat, first.crime_id) == (-0.120001, 51.501234, None)
    assert (second.crime_id, second.force) == ("9f4c2a", "Metropolitan Police Service")
    assert second.outcome == "Investigation complete; no suspect identified"
    assert third.force == "City of London Police"
    assert skipped.reasons == {"no coordinates": 1, "malformed row": 2}


def test_the_api_json_is_read_with_its_bad_rows_counted() -> None:
    skipped = Skipped()
    rows = list(read_json(io.StringIO(json.dumps(API)), skipped))
    assert [(r.category, r.crime_id, r.outcome) for r in rows] == [
        (Category.anti_social_behaviour, None, None),
        (Category.violence, "4d8d2b", "Unable to prosecute suspect"),
    ]
    assert (rows[0].lon, rows[0].lat, rows[0].month) == (-1.126371, 52.640961, date(2017, 1, 1))
    assert skipped.reasons == {"malformed row": 1, "no coordinates": 1}


def test_files_are_read_by_their_kind_and_a_byte_order_mark_is_no_trouble() -> None:
    skipped = Skipped()
    csv_rows = list(read(io.BytesIO(b"\xef\xbb\xbf" + CSV.encode()), "2024-01-street.csv", skipped))
    json_rows = list(read(io.BytesIO(json.dumps(API).encode()), "crimes.JSON", skipped))
    assert (len(csv_rows), len(json_rows)) == (3, 2)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Month,Longitude\n2024-01,1\n", "no column"),
        ('{"category": "burglary"}', "not a JSON array"),
        ('[{"category": "burglary"}', "not closed"),
        ('[{"category": "burg', "ends inside an element"),
    ],
)
def test_a_file_of_the_wrong_shape_is_refused_with_the_reason(text: str, reason: str) -> None:
    name = "x.csv" if text.startswith("Month") else "x.json"
    with pytest.raises(ValueError, match=reason):
        list(read(io.BytesIO(text.encode()), name, Skipped()))


class CountingReader(io.StringIO):
    """Counts what was read of it."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.taken = 0

    def read(self, size: int | None = -1, /) -> str:
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk


def test_a_large_json_answer_is_read_as_a_stream() -> None:
    big = json.dumps([API[1]] * 50_000)  # ~13 MB
    stream = CountingReader(big)
    rows = read_json(stream, Skipped())
    next(rows)
    assert stream.taken < 200_000, "the first row came before the whole file was read"
    assert sum(1 for _ in rows) == 49_999


def test_every_police_type_maps_and_unknown_ones_are_other() -> None:
    assert set(CRIME_TYPES) >= {"Burglary", "Vehicle crime", "Violence and sexual offences"}
    assert len(API_CATEGORIES) == len(CRIME_TYPES)  # the same fourteen, in two spellings
    assert category_of("Vehicle crime") is Category.vehicle_crime
    assert category_of("vehicle-crime") is Category.vehicle_crime
    assert category_of("Shoplifting") is Category.theft
    assert category_of("Possession of weapons") is Category.other
    assert category_of("Something new") is Category.other
