from __future__ import annotations

import re
import uuid
import zoneinfo
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

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


class _GrantForm(BaseModel):
    """A token request's form (RFC 6749): parameters it does not know are ignored, as
    §3.2 requires, and nothing is stripped (a password is compared as typed)."""

    model_config = ConfigDict(extra="ignore")


_Filled = Annotated[str, Field(min_length=1, max_length=8192)]


def _left_out(schema: dict[str, Any]) -> None:
    """An optional form field is left out, never null: no `default: null` either."""
    schema.pop("default", None)


class PasswordGrant(_GrantForm):
    """Sign in with the account's email and password (RFC 6749 §4.3)."""

    grant_type: Literal["password"]
    username: _Filled = Field(description="The account's email", examples=["ann@example.org"])
    password: _Filled = Field(examples=["correct horse battery staple"])


class RefreshTokenGrant(_GrantForm):
    """Swap a refresh token for new tokens (RFC 6749 §6); the old one is spent."""

    grant_type: Literal["refresh_token"]
    refresh_token: _Filled


class ClientCredentialsGrant(_GrantForm):
    """An API client's token (RFC 6749 §4.4). The client authenticates with HTTP Basic,
    or with `client_id` and `client_secret` here (§2.3.1), not both."""

    grant_type: Literal["client_credentials"]
    # A form has no null: an optional field is left out.
    scope: str | SkipJsonSchema[None] = Field(
        default=None,
        json_schema_extra=_left_out,
        max_length=8192,
        description="Space-separated scopes (default: all the client's)",
        examples=["alerts:read incidents:read"],
    )
    client_id: str | SkipJsonSchema[None] = Field(
        default=None,
        min_length=1,
        max_length=8192,
        description="Without HTTP Basic",
        json_schema_extra=_left_out,
    )
    client_secret: str | SkipJsonSchema[None] = Field(
        default=None,
        min_length=1,
        max_length=8192,
        description="Without HTTP Basic",
        json_schema_extra=_left_out,
    )


TokenRequest = Annotated[
    PasswordGrant | RefreshTokenGrant | ClientCredentialsGrant, Field(discriminator="grant_type")
]


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
