"""Request and response models of the CAP sources' admin endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from app.geo.schemas import JurisdictionArea
from app.integrations.cap_in.models import Outcome
from app.schemas import RequestModel, ResponseModel
from app.text import Name

SourceUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        description="An Atom or RSS index of CAP 1.2 documents, or one CAP document: "
        "`https` (plain `http` only where NW_CAP_ALLOW_HTTP allows), to a host whose every "
        "address is public (never loopback, private, link-local or metadata)",
        examples=["https://alerts.example.gov.uk/cap/feed.atom"],
    ),
]


class Trust(RequestModel):
    sender: Annotated[
        Name,
        Field(
            max_length=255,
            description="CAP `<sender>` that documents must carry to be taken in",
            examples=["alerts@thamesvalley.police.example"],
        ),
    ]
    allowed_area: JurisdictionArea | None = Field(
        default=None,
        description="Where the source may alert: an alert whose area does not lie inside "
        "it is refused (and logged). Without it, an officer's jurisdiction bounds the "
        "alerts of a source issued as that officer; a source without an officer has none",
    )


class CapSourceCreate(RequestModel):
    url: SourceUrl
    name: Annotated[
        Name,
        Field(
            max_length=80,
            description="What its alerts are shown under (the issuer's display name)",
            examples=["Thames Valley Police"],
        ),
    ]
    agency_user_id: uuid.UUID | None = Field(
        default=None,
        description="The agency officer (or admin) its alerts are issued as, within their "
        "jurisdiction; default: the feeds' system account",
    )
    trust: Trust


class TrustRead(BaseModel):
    sender: str
    allowed_area: dict[str, Any] | None = None


class SourceStatus(BaseModel):
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    last_status: int | None = Field(default=None, description="HTTP status of the last answer")
    last_error: str | None = Field(default=None, description="Why the last poll failed")
    failures: int = Field(description="Failed polls in a row (each puts the next one off)")
    next_poll_at: datetime


class CapSourceRead(ResponseModel):
    id: uuid.UUID
    url: str
    name: str
    agency_user_id: uuid.UUID | None
    trust: TrustRead
    created_at: datetime
    status: SourceStatus


class CapSourceDetail(CapSourceRead):
    documents: dict[Outcome, int] = Field(
        description="Documents read from it so far, by what became of them",
        examples=[{"accepted": 12, "duplicate": 3, "invalid": 1}],
    )


class CapDocumentRead(ResponseModel):
    id: uuid.UUID
    url: str = Field(description="Where it was fetched from")
    identifier: str | None = Field(description="CAP `<identifier>`, once the schema passed")
    sender: str | None
    sent: datetime | None
    msg_type: str | None = Field(description="CAP `<msgType>`: Alert, Update, Cancel…")
    outcome: Outcome
    reason: str | None = Field(description="Why it was refused or ignored, or a note")
    alert_id: uuid.UUID | None = Field(description="The alert (version) it became")
    received_at: datetime
