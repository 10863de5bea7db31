"""What Open311 clients send: the form of `POST /requests` and the query of
`GET /requests`, read as the specification has them (an empty parameter is an absent
one; lists are comma-separated; datetimes are W3C with an offset)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.categories import Category
from app.problems import Problem
from app.schemas import RequestModel
from app.text import Name

MAX_SPAN = timedelta(days=90)
MAX_IDS = 1000
# W3C date-time (https://www.w3.org/TR/NOTE-datetime) to the minute at least, always
# with its offset: a time without one names no instant.
W3C_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$"
_W3C = re.compile(W3C_PATTERN)
STATUSES = ("open", "closed")


def blank_is_absent(value: str | None) -> str | None:
    """The specification's rule: an empty optional parameter is an absent one."""
    if value is None or not value.strip():
        return None
    return value.strip()


def parse_w3c(name: str, value: str) -> datetime:
    if not _W3C.match(value):
        raise Problem(400, f"{name}: not a W3C date-time with an offset, e.g. 2026-11-23T21:40:00Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Problem(400, f"{name}: no such date or time") from None
    if not 1900 <= moment.year <= 2200:
        raise Problem(400, f"{name}: must be within the years 1900-2200")
    return moment


def _listed(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    return items or None


class SubmitForm(BaseModel):
    """The fields of `POST /requests`, blanks already taken as absent."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "api_key": "nwcs_the-client-secret",
                    "service_code": "burglary",
                    "lat": "51.5080",
                    "long": "-0.1270",
                    "description": "Shed door forced, bike taken.",
                    "email": "ann@example.org",
                    "attribute[occurred_at]": "2026-11-23T21:40:00+00:00",
                }
            ]
        }
    )

    jurisdiction_id: str | None = None
    api_key: str | None = None
    service_code: str | None = None
    lat: str | None = None
    long: str | None = None
    address_string: str | None = None
    address_id: str | None = None
    email: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    description: str | None = None
    media_url: str | None = None
    # The one attribute of every service (app.integrations.open311.catalogue).
    occurred_at: str | None = Field(
        default=None,
        alias="attribute[occurred_at]",
        description="When it happened, a W3C date-time with an offset (default: now)",
        examples=["2026-11-23T21:40:00+00:00"],
    )

    def contact_values(self) -> dict[str, str]:
        names = set(ContactFields.model_fields)
        return {k: v for k, v in self.model_dump().items() if k in names and v is not None}


class ContactFields(RequestModel):
    """What is kept of the person behind a request (app.integrations.open311.models)."""

    email: Annotated[Name, Field(max_length=320)] | None = None
    phone: Annotated[Name, Field(max_length=64)] | None = None
    first_name: Annotated[Name, Field(max_length=100)] | None = None
    last_name: Annotated[Name, Field(max_length=100)] | None = None
    device_id: Annotated[Name, Field(max_length=200)] | None = None
    account_id: Annotated[Name, Field(max_length=200)] | None = None
    address_string: Annotated[Name, Field(max_length=500)] | None = None
    media_url: Annotated[Name, Field(max_length=2000, pattern=r"^https?://\S+$")] | None = None


@dataclass(frozen=True)
class RequestQuery:
    ids: list[uuid.UUID] | None
    codes: set[str] | None
    start: datetime
    end: datetime
    statuses: set[str] | None


def parse_query(
    now: datetime,
    service_request_id: str | None,
    service_code: str | None,
    start_date: str | None,
    end_date: str | None,
    status: str | None,
) -> RequestQuery:
    """`service_request_id` overrides every other parameter, as the specification says."""
    wanted = _listed(service_request_id)
    if wanted is not None:
        if len(wanted) > MAX_IDS:
            raise Problem(400, f"service_request_id: at most {MAX_IDS} ids")
        ids = []
        for item in wanted:
            try:
                ids.append(uuid.UUID(item))
            except ValueError:
                raise Problem(400, f"service_request_id: not a request id: {item[:64]}") from None
        return RequestQuery(ids, None, now, now, None)
    codes = _listed(service_code)
    for code in codes or []:
        if code not in {c.value for c in Category}:
            raise Problem(400, f"service_code: no such service: {code[:64]}")
    statuses = _listed(status)
    for item in statuses or []:
        if item not in STATUSES:
            raise Problem(400, f"status: must be open or closed, not {item[:64]}")
    start = parse_w3c("start_date", start_date) if start_date else None
    end = parse_w3c("end_date", end_date) if end_date else None
    if start is None and end is None:
        end = now
    if start is None:
        assert end is not None
        start = end - MAX_SPAN
    if end is None:
        end = start + MAX_SPAN
    if end < start:
        raise Problem(400, "end_date: before start_date")
    if end - start > MAX_SPAN:
        raise Problem(400, "start_date, end_date: may span at most 90 days")
    return RequestQuery(
        None, set(codes) if codes else None, start, end, set(statuses or []) or None
    )
