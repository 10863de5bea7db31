"""Open311 GeoReport v2 answers (their JSON; app.integrations.open311.xml writes the same
fields as XML), and the moderators' and admins' requests about contact details."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.schemas import RequestModel

Datatype = Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]


class Open311Error(BaseModel):
    """One error, as the specification answers 400, 403 and 404 (and we 429)."""

    code: int = Field(examples=[400])
    description: str = Field(examples=["service_code: no such service"])


class Endpoint(BaseModel):
    specification: str = Field(examples=["http://wiki.open311.org/GeoReport_v2"])
    url: str = Field(examples=["https://api.example.org/open311/v2"])
    changeset: str = Field(examples=["2026-12-01T00:00:00+00:00"])
    type: Literal["production", "test"]
    formats: list[str] = Field(examples=[["text/xml", "application/json"]])


class Discovery(BaseModel):
    """Service Discovery: where the GeoReport v2 endpoint is and what it speaks."""

    changeset: str = Field(examples=["2026-12-01T00:00:00+00:00"])
    contact: str = Field(examples=["Ask your watch group's coordinators or the service's admins."])
    key_service: str = Field(
        examples=["An API client with the incidents:write scope, made by an admin or officer."]
    )
    endpoints: list[Endpoint]


class Service(BaseModel):
    """One of our incident categories, as an Open311 service."""

    service_code: str = Field(examples=["burglary"])
    service_name: str = Field(examples=["Burglary"])
    description: str | None = Field(examples=["A home, shed or business broken into."])
    metadata: bool = Field(description="Whether the service has attributes (all of ours do)")
    type: Literal["realtime"]
    keywords: str | None = Field(examples=["break-in,burglar,shed"])
    group: str | None = Field(examples=["crime"])


class AttributeValue(BaseModel):
    key: str
    name: str


class ServiceAttribute(BaseModel):
    variable: bool
    code: str = Field(examples=["occurred_at"])
    datatype: Datatype
    required: bool
    datatype_description: str | None
    order: int
    description: str
    values: list[AttributeValue] = Field(default_factory=list)


class ServiceDefinition(BaseModel):
    service_code: str = Field(examples=["burglary"])
    attributes: list[ServiceAttribute]


class ServiceRequest(BaseModel):
    """A report as the public sees it: the snapped point, no reporter, no contact."""

    service_request_id: str = Field(examples=["0b6c5e3e-8f1a-4c39-9a57-2f4d1c7e9b10"])
    status: Literal["open", "closed"]
    status_notes: str | None = Field(examples=["Verified by a moderator."])
    service_name: str | None = Field(examples=["Burglary"])
    service_code: str = Field(examples=["burglary"])
    description: str | None = Field(examples=["Shed door forced, bike taken."])
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str = Field(examples=["2026-11-23T21:40:00+00:00"])
    updated_datetime: str | None = Field(examples=["2026-11-24T08:00:00+00:00"])
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float = Field(description="Snapped to the privacy grid", examples=[51.5081])
    long: float = Field(description="Snapped to the privacy grid", examples=[-0.1272])
    media_url: str | None


class RequestCreated(BaseModel):
    service_request_id: str = Field(examples=["0b6c5e3e-8f1a-4c39-9a57-2f4d1c7e9b10"])
    service_notice: str | None = Field(examples=["Moderators review reports before they act."])
    account_id: str | None = Field(description="Always null: reports filed here have no account")


class ContactRead(BaseModel):
    """What an Open311 client sent about the person behind a report: agency officers
    whose jurisdiction holds the report, and admins, only."""

    incident_id: uuid.UUID
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    address_string: str | None = None
    media_url: str | None = None
    client_id: uuid.UUID | None = None
    created_at: datetime


Identifier = Annotated[str, Field(min_length=1, max_length=320)]


class ContactErasure(RequestModel):
    """A person's erasure request: every contact detail matching any of these goes."""

    email: Identifier | None = Field(default=None, examples=["ann@example.org"])
    phone: Identifier | None = None
    device_id: Identifier | None = None
    account_id: Identifier | None = None

    @model_validator(mode="after")
    def _names_someone(self) -> ContactErasure:
        if not (self.email or self.phone or self.device_id or self.account_id):
            raise ValueError("name at least one of email, phone, device_id, account_id")
        return self


class ContactsErased(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"erased": 2}]})

    erased: int = Field(description="Reports whose contact details were deleted")
