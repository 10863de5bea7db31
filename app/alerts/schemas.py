from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    field_validator,
    model_validator,
)

from app.alerts.models import AckKind, AlertStatus, Certainty, MsgType, Severity, Urgency
from app.auth.schemas import TimeZone
from app.categories import Category
from app.geo.schemas import Area, PointGeometry
from app.schemas import Instant, NotNull, RequestModel, ResponseModel
from app.text import LongText, Name

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
Label = Annotated[Name, Field(max_length=80, examples=["Home"])]
Title = Annotated[Name, Field(max_length=120, examples=["Sheds broken into on Elm Street"])]
Body = Annotated[
    LongText,
    Field(
        min_length=1,
        max_length=4000,
        examples=["Three sheds were forced last night. Lock yours and report anything odd."],
    ),
]


class PlaceCreate(RequestModel):
    label: Label
    location: PointGeometry
    radius_m: Annotated[float, Field(ge=50, le=5_000)]


class PlaceUpdate(RequestModel):
    label: Label | None = None
    location: PointGeometry | None = None
    radius_m: Annotated[float, Field(ge=50, le=5_000)] | None = None


class PlaceRead(ResponseModel):
    id: uuid.UUID
    label: str
    location: PointGeometry
    radius_m: float
    created_at: datetime


# An alert is for what is happening now: it expires within a week of being issued.
MAX_LIFETIME = timedelta(days=7)
EXPIRY = (
    f"RFC 3339 date-time with an offset: in the future, at most {MAX_LIFETIME.days} days "
    "after the request (422 otherwise)"
)


class QuietHours(BaseModel):
    # Also part of a request body, which refuses unknown fields.
    model_config = ConfigDict(extra="forbid")

    start: str = Field(
        examples=["22:00"],
        description="HH:MM, local time",
        json_schema_extra={"pattern": _HHMM.pattern},
    )
    end: str = Field(
        examples=["07:00"],
        description="HH:MM; may be earlier than start",
        json_schema_extra={"pattern": _HHMM.pattern},
    )
    timezone: TimeZone

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("must be a 24-hour time HH:MM")
        return value


class PreferencesBody(RequestModel):
    muted_categories: Annotated[list[Category], Field(max_length=len(Category))] = []
    min_severity: Severity = Severity.minor
    quiet_hours: QuietHours | None = None


class PreferencesRead(ResponseModel):
    muted_categories: list[Category]
    min_severity: Severity
    quiet_hours: QuietHours | None


class Action(BaseModel):
    """A concrete thing residents can do: lock sheds, check on a neighbour… Either one
    from the prevention library, by its id (`GET /v1/prevention-actions`), whose text
    and link the alert copies when issued; or free text with an optional link."""

    # Also part of a request body, which refuses unknown fields.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"action_id": "dc9faf78-5f47-5b73-82b7-7716a121cbe8"},
                {"text": "Report sightings", "url": "https://www.police.uk/"},
            ]
        },
    )

    action_id: uuid.UUID | None = Field(
        default=None, description="A prevention library action's id; then no text nor url"
    )
    text: Annotated[Name, Field(max_length=200)] | None = Field(
        default=None, description="Free text, when no action_id is given"
    )
    url: AnyHttpUrl | None = Field(default=None, description="With free text only")

    @model_validator(mode="after")
    def _library_or_text(self) -> Action:
        if self.action_id is not None:
            if self.text is not None or self.url is not None:
                raise ValueError("give either action_id or text (and url), not both")
        elif self.text is None:
            raise ValueError("give action_id (from the prevention library) or text")
        return self


Actions = Annotated[list[Action], Field(max_length=10)]


class ActionRead(BaseModel):
    action_id: uuid.UUID | None = Field(
        description="The prevention library action it was taken from; null for free text"
    )
    text: str
    url: str | None


class AlertCreate(RequestModel):
    title: Title
    body: Body
    category: Category
    severity: Severity
    urgency: Urgency = Urgency.expected
    certainty: Certainty = Certainty.likely
    area: Area | None = Field(default=None, description="Defaults to the group's area")
    group_id: uuid.UUID | None = None
    expires_at: Annotated[Instant, Field(description=EXPIRY)]
    actions: Actions = []
    status: AlertStatus = AlertStatus.actual

    @model_validator(mode="after")
    def _area_or_group(self) -> AlertCreate:
        if self.area is None and self.group_id is None:
            raise ValueError("area is required unless the alert is for a group (group_id)")
        return self


class AlertUpdate(RequestModel):
    """What changes; a member left out stays as it was, and none may be null."""

    title: NotNull[Title] = None
    body: NotNull[Body] = None
    category: NotNull[Category] = None
    severity: NotNull[Severity] = None
    urgency: NotNull[Urgency] = None
    certainty: NotNull[Certainty] = None
    area: NotNull[Area] = None
    expires_at: NotNull[Annotated[Instant, Field(description=EXPIRY)]] = None
    actions: NotNull[Actions] = None


class AlertCancel(RequestModel):
    reason: (
        Annotated[
            LongText,
            Field(max_length=500, description="Why it is over; the cancellation's text"),
        ]
        | None
    ) = None


class Issuer(BaseModel):
    id: uuid.UUID | None
    display_name: str
    kind: Literal["coordinator", "agency", "admin"]


class AlertRead(ResponseModel):
    id: uuid.UUID
    title: str
    body: str
    category: Category
    severity: Severity
    urgency: Urgency
    certainty: Certainty
    status: AlertStatus
    exercise: bool = Field(description="True for an exercise: say so wherever it is shown")
    area: Area
    group_id: uuid.UUID | None
    actions: list[ActionRead]
    issued_at: datetime
    expires_at: datetime
    issuer: Issuer
    msg_type: MsgType
    version: int
    references: uuid.UUID | None = Field(description="The version this one replaces")
    active: bool


class WhyPlace(BaseModel):
    id: uuid.UUID
    label: str | None = Field(description="Null if the place was removed since")


class WhyGroup(BaseModel):
    id: uuid.UUID
    name: str | None = Field(description="Null if the group is gone since")


Overridden = Literal["muted_category", "quiet_hours"]


class Why(BaseModel):
    """Why the caller got this alert, as decided when it was sent to them: theirs alone."""

    places: list[WhyPlace] = Field(description="The caller's places that the area touched")
    groups: list[WhyGroup] = Field(
        description="For a caller with no place: their groups whose areas the alert touched"
    )
    silent: bool = Field(description="Delivered without sound")
    quiet_hours: QuietHours | None = Field(
        description="The caller's quiet hours, when they made it silent"
    )
    overrode: list[Overridden] = Field(
        description="What of the caller's preferences an `extreme` alert went past"
    )
    decided_at: datetime


class AlertDetail(AlertRead):
    why: Why | None = Field(
        description="For a recipient, once it was sent out to them; null for anyone else"
    )


class TakenAction(BaseModel):
    """One of the alert's actions: by its library id, or by its place in `actions`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"action_id": "dc9faf78-5f47-5b73-82b7-7716a121cbe8"}, {"index": 1}]
        },
    )

    action_id: uuid.UUID | None = Field(
        default=None, description="The id of one of the alert's library actions"
    )
    index: Annotated[int, Field(ge=0, lt=10)] | None = Field(
        default=None, description="Its position in the alert's `actions`, from 0"
    )

    @model_validator(mode="after")
    def _one(self) -> TakenAction:
        if (self.action_id is None) == (self.index is None):
            raise ValueError("give either action_id or index")
        return self


class AckBody(RequestModel):
    kind: AckKind
    actions: Annotated[list[TakenAction], Field(max_length=10)] = Field(
        default=[],
        description="With `acted`: which of the alert's actions the caller took (422 with "
        "any other kind, or naming an action the alert does not have). Acting again adds "
        "to them.",
    )


class AckRead(ResponseModel):
    alert_id: uuid.UUID
    kind: AckKind
    actions: list[ActionRead] = Field(description="The actions the caller said they took")
    created_at: datetime


class ReachCount(RootModel[int | Literal["<10"]]):
    """How many, rounded to two significant figures (123 → 120, 1,234 → 1,200), or the
    string "<10" under ten: statistical disclosure control, as official statistics do, so
    that the figures never tell an issuer whether someone watches a spot."""

    root: Annotated[int, Field(ge=10)] | Literal["<10"]


class PushCounts(BaseModel):
    sent: ReachCount
    failed: ReachCount
    pending: ReachCount


class AckCounts(BaseModel):
    seen: ReachCount
    acted: ReachCount
    dismissed: ReachCount


class ActionCount(BaseModel):
    index: int = Field(description="Its position in this version's `actions`")
    action_id: uuid.UUID | None
    text: str
    acted: ReachCount = Field(description="How many said they took it, in any version")


class AlertStats(BaseModel):
    """Reach figures of an alert's whole chain, for its issuer: counts only, never who."""

    recipients: ReachCount
    push: PushCounts
    realtime_delivered: ReachCount
    acks: AckCounts
    actions: list[ActionCount] = Field(
        description="Per action of this version, how many residents acting on the alert "
        "said they took it, rounded as the other figures are"
    )
    median_ack_s: float | None = Field(
        description="Median seconds from issue to each recipient's first acknowledgement; "
        "null until at least 10 recipients have acknowledged (with fewer it would time "
        "individual people's answers)"
    )
