"""Base classes shared by every domain's request and response models, and the types of
values that every request model accepts the same way (instants, see also `app.text`)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

T = TypeVar("T")

# The years an instant or a day given by a client may name. datetime holds years 1-9999
# only, so an extreme value with an offset (`0001-01-01T00:00:00+14:00`) cannot even be
# converted to UTC, and `± timedelta` overflows near the ends; inside these bounds every
# conversion and every period the API computes (at most a few years) stays in range.
FIRST_YEAR = 1900
LAST_YEAR = 2999
YEARS = f"years {FIRST_YEAR}-{LAST_YEAR}"


def check_day(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be within {YEARS}")
    return value


def check_instant(value: datetime) -> datetime:
    """An aware datetime within the years, as UTC; raises ValueError otherwise."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must have a UTC offset, such as Z or +01:00")
    check_day(value.date())  # before converting: the conversion is what would overflow
    return value.astimezone(UTC)


Instant = Annotated[
    AwareDatetime,
    AfterValidator(check_instant),
    Field(description=f"RFC 3339 date-time with an offset, {YEARS}; stored as UTC"),
]


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may be left out, but not null")
    return value


def _without_null(schema: dict[str, Any]) -> None:
    options = [option for option in schema.pop("anyOf", []) if option != {"type": "null"}]
    schema.update(options[0] if len(options) == 1 else {"anyOf": options})


# A field of a partial update that may be left out (None: unchanged) but not set to null,
# because the stored value cannot be empty; the schema says so by not allowing null.
NotNull = Annotated[T | None, AfterValidator(_not_null), Field(json_schema_extra=_without_null)]


class RequestModel(BaseModel):
    """A request body: unknown fields are refused, so no client can set what it must not."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
