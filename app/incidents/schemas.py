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


class ClusterRef(BaseModel):
    """The corroborating reports a report belongs to."""

    id: uuid.UUID
    size: int = Field(ge=2, examples=[3], description="Reports in the cluster, this one included")


CLUSTER_SHOWN = (
    "The cluster of reports corroborating this one (same category, within "
    "NW_CORROBORATION_RADIUS_M and NW_CORROBORATION_WINDOW_H of another member). Shown only "
    "to moderators; null for a report alone, and for everyone else: membership says two "
    "exact points lie within the radius, which is finer than the snapped point others see. "
    "Also null in the answer to POST /v1/incidents, made before the cluster is"
)


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
    cluster: ClusterRef | None = Field(default=None, description=CLUSTER_SHOWN)


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


class ClusterStatusCounts(BaseModel):
    submitted: int = 0
    verified: int = 0
    rejected: int = 0
    forwarded: int = 0
    resolved: int = 0


class ClusterSummary(ResponseModel):
    """A cluster of corroborating reports, for moderators."""

    id: uuid.UUID
    category: Category
    size: int = Field(ge=2, examples=[3], description="Reports in the cluster")
    statuses: ClusterStatusCounts = Field(description="Its reports by status")
    first_occurred_at: datetime
    last_occurred_at: datetime
    created_at: datetime = Field(description="When its second report arrived")
    updated_at: datetime


class ClusterRead(ClusterSummary):
    members: list[IncidentRead] = Field(
        description="Its reports that the caller may see, as the caller sees them, oldest "
        "first; `size` counts them all"
    )


class ClusterTransitionRequest(RequestModel):
    status: Literal[IncidentStatus.verified, IncidentStatus.rejected] = Field(
        description="Applied to every member still `submitted` that the caller moderates"
    )
    note: Annotated[LongText, Field(max_length=2000)] | None = Field(
        default=None, description="Required to reject", examples=["The same parked van"]
    )


class ClusterTransitionResult(ClusterRead):
    changed: list[uuid.UUID] = Field(description="The reports this transition moved")
    skipped: list[uuid.UUID] = Field(
        description="Members left as they were: not `submitted`, or not moderated by the "
        "caller (submitted before their group's verification, or outside its area)"
    )
