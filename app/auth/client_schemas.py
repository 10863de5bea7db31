"""Request and response models of the API clients' admin endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, field_validator

from app.auth.scopes import Scope, canonical
from app.geo.schemas import Area, JurisdictionArea
from app.ratelimit import DAY
from app.schemas import RequestModel, ResponseModel
from app.text import Name

# How long a rotated secret may keep working: long enough to roll it out to every
# machine of an integration, short enough that a leaked one is soon dead.
MAX_GRACE_S = 7 * DAY


class ClientCreate(RequestModel):
    name: Annotated[Name, Field(max_length=80)]
    scopes: list[Scope] = Field(min_length=1, max_length=len(Scope))
    jurisdiction: Area | None = Field(
        default=None,
        description="Where the client acts. An agency officer's client must lie inside the "
        "officer's jurisdiction (default: all of it); an admin's may have none (everywhere)",
    )
    group_id: uuid.UUID | None = Field(
        default=None,
        description="Admins only: the group whose alerts the client may read too",
    )

    @field_validator("scopes")
    @classmethod
    def _once_each(cls, value: list[Scope]) -> list[Scope]:
        return [Scope(s) for s in canonical(value)]


class ClientRotate(RequestModel):
    grace_period_s: int = Field(
        default=0,
        ge=0,
        le=MAX_GRACE_S,
        description="Seconds the old secret keeps working (at most seven days); 0: none",
    )


class ClientRead(ResponseModel):
    client_id: uuid.UUID
    name: str
    scopes: list[Scope]
    jurisdiction: JurisdictionArea | None = Field(
        default=None, description="Where it acts; null: everywhere (an admin's client)"
    )
    group_id: uuid.UUID | None = None
    created_by: uuid.UUID | None = Field(
        default=None, description="Who created it (null once that account is erased)"
    )
    created_at: datetime
    rotated_at: datetime | None = None
    previous_secret_expires_at: datetime | None = Field(
        default=None, description="Until when the secret replaced by the last rotation works"
    )
    revoked_at: datetime | None = None


class ClientWithSecret(ClientRead):
    client_secret: str = Field(description="Shown this once: only its hash is kept")
