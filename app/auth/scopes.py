"""The scopes an API client can be granted, and what each one lets it do."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Scope(StrEnum):
    alerts_read = "alerts:read"
    alerts_write = "alerts:write"
    incidents_read = "incidents:read"
    incidents_write = "incidents:write"
    webhooks = "webhooks"


# Shown in the OpenAPI document, and so in Swagger UI's Authorize dialog.
SCOPE_DESCRIPTIONS: dict[str, str] = {
    Scope.alerts_read: "Read public alerts inside the client's jurisdiction, and its group's",
    Scope.alerts_write: "Issue alerts (reserved: no operation takes it yet)",
    Scope.incidents_read: "Read reports inside the client's jurisdiction (reserved)",
    Scope.incidents_write: "Submit reports, e.g. through Open311 (reserved)",
    Scope.webhooks: "Signed webhooks of the alerts the client may read and reports in its reach",
}
_ORDER = {scope.value: n for n, scope in enumerate(Scope)}


def canonical(scopes: Iterable[str]) -> list[str]:
    """Each scope once, in one order: tokens and answers spell a set the same way."""
    return sorted(set(scopes), key=lambda scope: _ORDER.get(scope, len(_ORDER)))
