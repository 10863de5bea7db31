from __future__ import annotations

import re
import uuid
import zoneinfo
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    EmailStr,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from app.auth.models import Role
from app.auth.passwords import MIN_LENGTH, check_password
from app.geo.schemas import JurisdictionArea
from app.openapi import named_schema
from app.schemas import NotNull, RequestModel, ResponseModel
from app.text import Name

# BCP 47 language tag, the shape apps send (`en`, `en-GB`, `zh-Hant-TW`).
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


# The zones of the tz database this process reads; the document lists the same ones, so
# that a client (or schemathesis) picks only names the server takes.
ZONES = frozenset(zoneinfo.available_timezones())


def _timezone(value: str) -> str:
    if value not in ZONES:
        raise ValueError("must be an IANA time zone such as Europe/London")
    return value


DisplayName = Annotated[Name, Field(max_length=80)]
Locale = Annotated[str, Field(max_length=35, pattern=_LOCALE.pattern, examples=["en-GB"])]
TimeZone = Annotated[
    str,
    Field(max_length=64),
    AfterValidator(_timezone),
    WithJsonSchema(
        named_schema(
            "TimeZone",
            {
                "type": "string",
                "description": "An IANA time zone",
                "enum": sorted(ZONES),
                "examples": ["Europe/London"],
            },
        )
    ),
]
# NIST SP 800-63B: at least 8 characters, long passphrases allowed, no composition rules,
# not a common password. Never stripped: sign-in compares the password exactly as typed.
Password = Annotated[
    str,
    StringConstraints(strip_whitespace=False, max_length=256),
    AfterValidator(check_password),
    Field(
        min_length=MIN_LENGTH,
        description="At least 8 characters, kept exactly as typed (spaces too);"
        " one of the 30,000 most common passwords is refused",
    ),
]


class RegisterRequest(RequestModel):
    email: EmailStr
    password: Password
    display_name: DisplayName

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class UserRead(ResponseModel):
    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    locale: str | None = None
    timezone: str | None = None
    jurisdiction: JurisdictionArea | None = Field(default=None, description="An agency user's area")
    created_at: datetime


class MeUpdate(RequestModel):
    display_name: NotNull[DisplayName] = None
    locale: Locale | None = None
    timezone: TimeZone | None = None


class AdminUserUpdate(RequestModel):
    role: NotNull[Role] = None
    jurisdiction: JurisdictionArea | None = None


class LogoutRequest(RequestModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=512)]


class FirebaseSignIn(RequestModel):
    id_token: str = Field(
        min_length=1, max_length=8192, description="A Firebase Auth ID token from the app"
    )


class TokenResponse(ResponseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str | None = None
    scope: str | None = None


class OAuthError(ResponseModel):
    """An RFC 6749 §5.2 error, as the token endpoint answers."""

    error: Literal[
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "temporarily_unavailable",
    ]
    error_description: str | None = None
