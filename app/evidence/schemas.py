"""Evidence as the API shows it: counts by category and month in three periods, from
police.uk and from residents, and what is rising; and the prevention library."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, UrlConstraints

from app.categories import Category
from app.incidents.schemas import GroupStats as WeeklyGroupStats
from app.schemas import NotNull, RequestModel, ResponseModel
from app.text import Name

# A resident-reported figure for an arbitrary area: rounded half up to two significant
# figures, "<10" under ten (zero included), as alert reach is. Police and group figures
# are exact integers.
Count = Annotated[int, Field(ge=0)] | Literal["<10"]
Source = Literal["police", "residents"]


class MonthCounts(BaseModel):
    month: str = Field(examples=["2026-10"], description="YYYY-MM")
    counts: dict[str, Count] = Field(
        description="Every category, zeros included", examples=[{"burglary": 14, "theft": 3}]
    )


class PeriodCounts(BaseModel):
    first: str = Field(examples=["2026-08"], description="First month (YYYY-MM), included")
    last: str = Field(examples=["2026-10"], description="Last month (YYYY-MM), included")
    covered: bool = Field(
        description="Whether data is held for the whole period: for police, every month has "
        "been imported (for any force); for residents, the period starts after the first "
        "report this service received. An uncovered period is not compared with."
    )
    months: list[MonthCounts]
    totals: dict[str, Count] = Field(description="Per category, over the period")


class SourceCounts(BaseModel):
    rounded: bool = Field(
        description='Figures rounded to two significant figures, `"<10"` under ten'
    )
    current: PeriodCounts
    previous: PeriodCounts = Field(description="As many months just before")
    year_ago: PeriodCounts = Field(description="The same months a year earlier")


class Trend(BaseModel):
    """One category of one source: the current period against the one before and against
    a year before, by the exact conditional binomial test for two Poisson counts (one
    sided, the periods' lengths in days weighed)."""

    source: Source
    category: Category
    current: Count = Field(examples=[14])
    previous: Count = Field(examples=[5])
    year_ago: Count = Field(examples=[6])
    p_value: float | None = Field(
        examples=[0.0318],
        description="That `current` is this far above `previous` by chance; null when not "
        "tested (the previous period not covered, or a rounded current under ten)",
    )
    p_value_year: float | None = Field(examples=[0.0577], description="The same against a year ago")
    above_previous: bool = Field(
        description="`p_value` under `level` and at least `min_count` in the current period"
    )
    above_year_ago: bool | None = Field(description="The same against a year ago; null if untested")
    level: float = Field(examples=[0.05])


class AreaEvidence(BaseModel):
    first: str = Field(examples=["2026-08"], description="The period's first month, included")
    last: str = Field(examples=["2026-10"], description="The period's last month, included")
    level: float = Field(examples=[0.05], description="The significance level, one-sided")
    min_count: int = Field(
        examples=[5], description="The fewest in the current period that can be rising"
    )
    police: SourceCounts = Field(description="Recorded by the police (police.uk), exact")
    residents: SourceCounts = Field(description="Reported by residents here (not rejected)")
    trends: list[Trend] = Field(description="Every category of both sources")
    rising: list[Trend] = Field(
        description="Those significantly above the previous period and, where a year ago "
        "is covered, above it too: the rises that are not noise nor the season"
    )


class GroupStats(WeeklyGroupStats):
    """The weekly figures of incidents' GroupStats (unchanged), with the evidence."""

    evidence: AreaEvidence = Field(
        description="Police-recorded and resident-reported counts inside the group's area by "
        "month: the whole months holding `from` to `to`, or without them the last three "
        "complete months. Residents' counts are on the points the caller is shown, as above."
    )


ActionText = Annotated[
    Name,
    Field(
        max_length=200,
        examples=["Lock sheds and garages, and mark your tools with your postcode"],
        description="One line: what to do, in a few words",
    ),
]
# A link a resident opens from a push: https only (no plain http a network could rewrite,
# no javascript: or data: either).
HttpsUrl = Annotated[
    AnyUrl,
    UrlConstraints(allowed_schemes=["https"], max_length=500),
    Field(
        examples=["https://www.police.uk/pu/advice-crime-prevention/"],
        description="https only",
        json_schema_extra={"pattern": "^[Hh][Tt][Tt][Pp][Ss]://"},
    ),
]


class PreventionActionRead(ResponseModel):
    id: uuid.UUID = Field(
        examples=["dc9faf78-5f47-5b73-82b7-7716a121cbe8"],
        description="Stable (the built-in actions' are the same in every installation); "
        "alerts name actions by it",
    )
    key: str | None = Field(
        examples=["burglary.shed"], description="A built-in action's readable name; null for others"
    )
    category: Category
    text: str = Field(examples=["Lock sheds and garages, and mark your tools with your postcode"])
    url: str | None = Field(examples=[None])
    built_in: bool = Field(description="Written by us; only an admin changes or deletes it")
    created_at: datetime
    updated_at: datetime


class PreventionActionCreate(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "category": "burglary",
                    "text": "Fit a door chain and use it before opening the door",
                    "url": "https://www.police.uk/pu/advice-crime-prevention/",
                }
            ]
        }
    )

    category: Category
    text: ActionText
    url: HttpsUrl | None = None


class PreventionActionUpdate(RequestModel):
    """What changes; a member left out stays as it was. `url: null` removes the link."""

    category: NotNull[Category] = None
    text: NotNull[ActionText] = None
    url: HttpsUrl | None = None
