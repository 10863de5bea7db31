from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field

from app.db import TableModel, created_now


class Open311Contact(TableModel, table=True):
    """What an Open311 client sent about the person behind a report it filed: seen by
    agency officers and admins only (who see an anonymous report's reporter), deleted
    after NW_OPEN311_CONTACT_DAYS (app.retention) or on an admin's erasure."""

    __tablename__ = "open311_contacts"

    incident_id: uuid.UUID = Field(foreign_key="incidents.id", ondelete="CASCADE", primary_key=True)
    # SET NULL: the contact outlives a client deleted later, until its own retention ends.
    client_id: uuid.UUID | None = Field(
        default=None, foreign_key="api_clients.id", ondelete="SET NULL", index=True
    )
    email: str | None = Field(default=None, max_length=320, index=True)
    phone: str | None = Field(default=None, max_length=64, index=True)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    device_id: str | None = Field(default=None, max_length=200, index=True)
    account_id: str | None = Field(default=None, max_length=200, index=True)
    # Where the client says it happened, and its photo: either could place the person.
    address_string: str | None = Field(default=None, max_length=500)
    media_url: str | None = Field(default=None, max_length=2000)
    created_at: datetime = created_now()
