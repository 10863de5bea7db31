from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.categories import Category
from app.geo.schemas import PointGeometry
from app.incidents.models import IncidentStatus
from app.schemas import Instant, RequestModel, ResponseModel
from app.text import LongText, Name


class IncidentCreate(RequestModel):
    category: Category
    description: Annotated[
        LongText,
        Field(min_length=1, max_length=4000, examples=["Shed door forced, bike taken."]),
    ]
    occurred_at: Instant
    location: PointGeometry
    accuracy_m: Annotated[float, Field(ge=0, le=10_000)] | None = None
    anonymous: bool = Field(
        default=True,
        description="Anonymous to neighbours and to watch-group coordinators: who filed the "
        "report is seen only by the agency (police or council) officers whose jurisdiction "
        "holds its location, and by the service's admins. Named (false): members of the "
        "groups around it see your display name.",
    )


class Reporter(BaseModel):
    id: uuid.UUID | None = Field(default=None, description="Only for the reporter and moderators")
    display_name: str = Field(examples=["Ann B."])


class IncidentProperties(ResponseModel):
    """An incident without its location: the `properties` of its GeoJSON Feature."""

    id: uuid.UUID
    category: Category
    description: str = Field(examples=["Shed door forced, bike taken."])
    occurred_at: datetime
    reported_at: datetime
    location_exact: bool = Field(
        description="Whether `location` is the exact point reported: false for the snapped "
        "point, which is all that is kept of it after the retention period"
    )
    accuracy_m: float | None = None
    status: IncidentStatus
    anonymous: bool
    reporter: Reporter | None = Field(
        default=None,
        description="Absent for anonymous reports, except to the reporter, agency officers "
        "whose jurisdiction holds the report, and admins",
    )
    police_reference: str | None = None


LOCATION_SHOWN = (
    "Exact for the reporter and moderators (a verified group's coordinators, for reports "
    "since its verification; agency officers whose jurisdiction holds it; admins); snapped "
    "to a ~250 m grid for others, and for everyone once the report is older than the "
    "retention period (NW_EXACT_LOCATION_DAYS)"
)


class IncidentRead(IncidentProperties):
    location: PointGeometry = Field(description=LOCATION_SHOWN)


# An answer always has its `type`: the schema says so although the model defaults it.
_ANSWER = ConfigDict(json_schema_serialization_defaults_required=True)


class IncidentFeature(BaseModel):
    """An incident as a GeoJSON Feature (RFC 7946 §3.2)."""

    model_config = _ANSWER

    type: Literal["Feature"] = "Feature"
    id: uuid.UUID
    geometry: PointGeometry = Field(description=LOCATION_SHOWN)
    properties: IncidentProperties


class IncidentFeatureCollection(BaseModel):
    """A page of incidents as a GeoJSON FeatureCollection (RFC 7946 §3.3), for a map;
    `next_cursor` is a foreign member, as in the JSON page."""

    model_config = _ANSWER

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[IncidentFeature]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")

    @classmethod
    def of(cls, items: list[IncidentRead], next_cursor: str | None) -> IncidentFeatureCollection:
        return cls(
            features=[
                IncidentFeature(
                    id=item.id,
                    geometry=item.location,
                    properties=IncidentProperties.model_validate(
                        item.model_dump(exclude={"location"})
                    ),
                )
                for item in items
            ],
            next_cursor=next_cursor,
        )


class TransitionRequest(RequestModel):
    status: IncidentStatus
    note: Annotated[LongText, Field(max_length=2000)] | None = None
    police_reference: Annotated[Name, Field(max_length=64)] | None = None


class StatusChangeRead(ResponseModel):
    from_status: IncidentStatus
    to_status: IncidentStatus
    actor: Reporter | None
    note: str | None
    police_reference: str | None
    created_at: datetime


class UpdateCreate(RequestModel):
    text: Annotated[LongText, Field(min_length=1, max_length=2000)]


class UpdateRead(ResponseModel):
    id: uuid.UUID
    text: str
    author: Reporter | None
    created_at: datetime


class CategoryRead(BaseModel):
    id: Category
    label: str


class WeekCount(BaseModel):
    week: str = Field(examples=["2026-W47"], description="ISO 8601 week")
    category: Category
    submitted: int = Field(description="Reports received (every status but rejected)")
    verified: int = Field(description="Of those, verified by a moderator (or further)")


class PeriodStats(BaseModel):
    start: date
    end: date
    weeks: list[WeekCount]
    totals: dict[str, int] = Field(description="Reports received per category")


class GroupStats(BaseModel):
    current: PeriodStats
    previous: PeriodStats = Field(description="The same length of time just before")
