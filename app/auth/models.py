from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field

from app.db import JSONDoc, TableModel, UTCDateTime, created_now, new_id, updated_now


class Role(StrEnum):
    resident = "resident"
    agency = "agency"
    admin = "admin"


class User(TableModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    # Stored lower-cased, so uniqueness is case-insensitive on every backend.
    email: str = Field(max_length=320, unique=True)
    password_hash: str | None = Field(default=None, max_length=255)
    # The Firebase Auth uid of an account that signs in with Firebase (POST /v1/auth/firebase).
    firebase_uid: str | None = Field(default=None, max_length=128, unique=True)
    display_name: str = Field(max_length=80)
    role: str = Field(default=Role.resident.value, max_length=16)
    locale: str | None = Field(default=None, max_length=35)
    timezone: str | None = Field(default=None, max_length=64)
    # An agency user's jurisdiction: a GeoJSON area as accepted by the API.
    jurisdiction: dict[str, Any] | None = Field(default=None, sa_type=JSONDoc)
    created_at: datetime = created_now()
    updated_at: datetime = updated_now()


class RefreshToken(TableModel, table=True):
    """One issued refresh token. Rotation keeps the family; reuse revokes all of it."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_family_id", "family_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    family_id: uuid.UUID
    # SHA-256 of the token: the token itself is never stored.
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = created_now()
    expires_at: datetime = Field(sa_type=UTCDateTime)
    rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiClient(TableModel, table=True):
    """A third party's integration, authenticating with client credentials (RFC 6749
    §4.4) and acting within its scopes, its jurisdiction and its group."""

    __tablename__ = "api_clients"
    # A secret alone (Open311's api_key) finds its client by its hash.
    __table_args__ = (
        Index("ix_api_clients_secret_hash", "secret_hash"),
        Index("ix_api_clients_previous_secret_hash", "previous_secret_hash"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=80)
    scopes: list[str] = Field(sa_type=JSONDoc)
    # A GeoJSON area: what "inside its jurisdiction" means for what it reads.
    jurisdiction: dict[str, Any] | None = Field(default=None, sa_type=JSONDoc)
    # A group's own integration dies with the group.
    group_id: uuid.UUID | None = Field(
        default=None, foreign_key="groups.id", ondelete="CASCADE", index=True
    )
    # SET NULL: an erased officer's clients keep working, without naming them.
    created_by: uuid.UUID | None = Field(
        default=None, foreign_key="users.id", ondelete="SET NULL", index=True
    )
    # SHA-256 of the secrets: the secrets themselves are never stored.
    secret_hash: str = Field(max_length=64)
    # The secret replaced by the last rotation, accepted until its grace period ends.
    previous_secret_hash: str | None = Field(default=None, max_length=64)
    previous_secret_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_now()
    rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
