from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field

from app.auth.schemas import Locale
from app.devices.models import Platform
from app.schemas import RequestModel, ResponseModel
from app.text import Name


class DeviceRegister(RequestModel):
    fcm_token: Annotated[
        str,
        Field(
            min_length=16,
            max_length=1024,
            pattern=r"^[\x21-\x7e]+$",
            description="The FCM registration token the app got from Firebase",
        ),
    ]
    platform: Platform
    app_version: Annotated[Name, Field(max_length=32)] | None = None
    locale: Locale | None = None


class DeviceRead(ResponseModel):
    id: uuid.UUID
    platform: Platform
    app_version: str | None
    locale: str | None
    active: bool
    created_at: datetime
    last_seen_at: datetime
