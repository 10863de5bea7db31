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
    Scope.alerts_write: "Issue, update and cancel alerts inside the client's jurisdiction, "
    "as an agency, under the client's name",
    Scope.incidents_read: "Read reports inside the client's jurisdiction: as its agency "
    "officer sees them for an officer's client, else snapped and with no reporter",
    Scope.incidents_write: "Submit reports inside the client's jurisdiction, with no reporter: "
    "`POST /v1/incidents`, and Open311 GeoReport v2 `POST /open311/v2/requests`, which takes "
    "the client's secret as its `api_key`",
    Scope.webhooks: "Signed webhooks of the alerts the client may read and reports in its reach",
}
_ORDER = {scope.value: n for n, scope in enumerate(Scope)}


def canonical(scopes: Iterable[str]) -> list[str]:
    """Each scope once, in one order: tokens and answers spell a set the same way."""
    return sorted(set(scopes), key=lambda scope: _ORDER.get(scope, len(_ORDER)))
