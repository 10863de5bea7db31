"""Every domain's tables, imported in one place for Alembic and the tests."""

from app.auth.models import RefreshToken, User
from app.db import Base
from app.devices.models import Device

__all__ = ["Base", "Device", "RefreshToken", "User"]
