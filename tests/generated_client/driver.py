"""Drives a live Neighbourwatch through the client openapi-python-client generates from
the committed openapi/openapi.json (tests/test_generated_client.py), as an integrator
would: every call typed, every answer parsed into the model the document promises.

Run as `python driver.py BASE_URL ADMIN_EMAIL ADMIN_PASSWORD` with the generated package
`nwc` importable; prints what it did, exits non-zero at the first answer that is not
the one expected. Type-checked with `mypy --strict` beside the generated package.
"""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from http import HTTPStatus
from typing import TypeVar

from nwc import AuthenticatedClient, Client
from nwc.api.alerts import issue_alert, list_alerts
from nwc.api.auth import create_client, create_token, register_user
from nwc.api.groups import create_group
from nwc.api.incidents import list_incidents, read_incident, submit_incident
from nwc.api.webhooks import create_webhook
from nwc.models.alert_create import AlertCreate
from nwc.models.alert_read import AlertRead
from nwc.models.circle_area import CircleArea
from nwc.models.client_create import ClientCreate
from nwc.models.client_credentials_grant import ClientCredentialsGrant
from nwc.models.client_with_secret import ClientWithSecret
from nwc.models.group_create import GroupCreate
from nwc.models.group_read import GroupRead
from nwc.models.incident_create import IncidentCreate
from nwc.models.incident_feature_collection import IncidentFeatureCollection
from nwc.models.incident_read import IncidentRead
from nwc.models.page_alert_read import PageAlertRead
from nwc.models.page_incident_read import PageIncidentRead
from nwc.models.password_grant import PasswordGrant
from nwc.models.point_geometry import PointGeometry
from nwc.models.register_request import RegisterRequest
from nwc.models.token_response import TokenResponse
from nwc.models.user_read import UserRead
from nwc.models.webhook_create import WebhookCreate
from nwc.models.webhook_with_secret import WebhookWithSecret
from nwc.types import Response

P = TypeVar("P")
M = TypeVar("M")

LONDON = [-0.1276, 51.5072]
SPOT = [-0.1270, 51.5080]
PASSWORD = "correct horse battery staple"
# Allowed by the live server's NW_WEBHOOK_ALLOWED_HOSTS (tests/test_generated_client.py).
RECEIVER = "http://127.0.0.1:9/hooks"


def expect(response: Response[P], kind: type[M], status: HTTPStatus = HTTPStatus.OK) -> M:
    """The answer parsed as `kind`, which it must be, with `status`."""
    parsed = response.parsed
    if response.status_code != status or not isinstance(parsed, kind):
        raise SystemExit(
            f"expected {status.value} {kind.__name__}, got {response.status_code.value} "
            f"{type(parsed).__name__}: {response.content!r}"
        )
    return parsed


def sign_in(anonymous: Client, email: str, password: str) -> TokenResponse:
    grant = PasswordGrant(grant_type="password", username=email, password=password)
    return expect(create_token.sync_detailed(client=anonymous, body=grant), TokenResponse)


def as_resident(anonymous: Client, base_url: str) -> AuthenticatedClient:
    email = f"ann-{uuid.uuid4().hex[:8]}@example.org"
    body = RegisterRequest(email=email, password=PASSWORD, display_name="Ann")
    registered = register_user.sync_detailed(client=anonymous, body=body)
    user = expect(registered, UserRead, HTTPStatus.CREATED)
    assert user.email == email
    tokens = sign_in(anonymous, email, PASSWORD)
    assert isinstance(tokens.refresh_token, str)
    print("registered and signed in")
    return AuthenticatedClient(base_url=base_url, token=tokens.access_token)


def report_and_list(resident: AuthenticatedClient) -> IncidentRead:
    group = expect(
        create_group.sync_detailed(
            client=resident,
            body=GroupCreate(
                name="Elm Street Watch",
                area=CircleArea(type_="Point", coordinates=LONDON, radius_m=1_750),
            ),
        ),
        GroupRead,
        HTTPStatus.CREATED,
    )
    print("created group", group.id)
    body = IncidentCreate(
        category="burglary",
        description="Shed door forced, bike taken.",
        occurred_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
        location=PointGeometry(type_="Point", coordinates=SPOT),
        accuracy_m=12.0,
        anonymous=True,
    )
    made = submit_incident.sync_detailed(client=resident, body=body, idempotency_key="drv-1")
    report = expect(made, IncidentRead, HTTPStatus.CREATED)
    again = submit_incident.sync_detailed(client=resident, body=body, idempotency_key="drv-1")
    assert expect(again, IncidentRead, HTTPStatus.CREATED).id == report.id
    print("submitted report", report.id)

    page = expect(list_incidents.sync_detailed(client=resident), PageIncidentRead)
    assert [i.id for i in page.items] == [report.id]
    assert page.items[0].location.coordinates == SPOT  # the reporter's own: exact
    geo = resident.with_headers({"Accept": "application/geo+json"})
    collection = expect(list_incidents.sync_detailed(client=geo), IncidentFeatureCollection)
    (feature,) = collection.features
    assert (feature.id, feature.geometry.type_) == (report.id, "Point")
    assert feature.geometry.coordinates == SPOT
    assert feature.properties.category == "burglary"
    print("listed reports as JSON and as GeoJSON")

    alert = expect(
        issue_alert.sync_detailed(
            client=resident,
            body=AlertCreate(
                title="Shed break-ins on Elm Street",
                body="Lock your shed.",
                category="burglary",
                severity="moderate",
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=12),
                group_id=group.id,
                area=None,
            ),
        ),
        AlertRead,
        HTTPStatus.CREATED,
    )
    assert alert.issuer.kind == "coordinator"
    print("issued group alert", alert.id)
    return report


def as_api_client(anonymous: Client, base_url: str, admin_email: str, password: str) -> None:
    admin_tokens = sign_in(anonymous, admin_email, password)
    admin = AuthenticatedClient(base_url=base_url, token=admin_tokens.access_token)
    made = expect(
        create_client.sync_detailed(
            client=admin,
            body=ClientCreate(
                name="Borough dashboard",
                scopes=["alerts:read", "alerts:write", "incidents:read", "webhooks"],
            ),
        ),
        ClientWithSecret,
        HTTPStatus.CREATED,
    )
    assert made.client_secret.startswith("nwcs_")
    grant = ClientCredentialsGrant(
        grant_type="client_credentials",
        client_id=str(made.client_id),
        client_secret=made.client_secret,
        scope="alerts:read alerts:write incidents:read webhooks",
    )
    tokens = expect(create_token.sync_detailed(client=anonymous, body=grant), TokenResponse)
    assert tokens.scope == "alerts:read alerts:write incidents:read webhooks"
    client = AuthenticatedClient(base_url=base_url, token=tokens.access_token)
    print("client credentials: token for", tokens.scope)

    issued = expect(
        issue_alert.sync_detailed(
            client=client,
            body=AlertCreate(
                title="Road closed for a police operation",
                body="Avoid the high street until further notice.",
                category="other",
                severity="severe",
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=6),
                area=CircleArea(type_="Point", coordinates=LONDON, radius_m=2_000),
            ),
        ),
        AlertRead,
        HTTPStatus.CREATED,
    )
    assert (issued.issuer.display_name, issued.issuer.kind) == ("Borough dashboard", "agency")
    alerts = expect(list_alerts.sync_detailed(client=client), PageAlertRead)
    assert issued.id in {a.id for a in alerts.items}
    print("client issued and read alert", issued.id)

    page = expect(list_incidents.sync_detailed(client=client), PageIncidentRead)
    (seen,) = page.items
    assert seen.reporter is None  # no one behind it
    assert not seen.location_exact  # snapped
    one = expect(read_incident.sync_detailed(seen.id, client=client), IncidentRead)
    assert one.location.coordinates == seen.location.coordinates
    print("client read reports, snapped")

    hook = create_webhook.sync_detailed(
        client=client, body=WebhookCreate(url=RECEIVER, events=["alert.issued"])
    )
    subscription = expect(hook, WebhookWithSecret, HTTPStatus.CREATED)
    assert subscription.secret.startswith("whsec_")
    print("subscribed webhook", subscription.id)


def main(base_url: str, admin_email: str, admin_password: str) -> None:
    anonymous = Client(base_url=base_url)
    resident = as_resident(anonymous, base_url)
    report_and_list(resident)
    as_api_client(anonymous, base_url, admin_email, admin_password)
    print("ok")


if __name__ == "__main__":
    main(*sys.argv[1:4])
