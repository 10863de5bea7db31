from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AnyUrl, ConfigDict, Field, UrlConstraints

from app.categories import Category
from app.schemas import NotNull, RequestModel, ResponseModel
from app.text import Name

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
