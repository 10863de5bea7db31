"""CAP 1.2 documents, feeds that list them, and CAP sources registered through the API."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlmodel import col

from app.integrations.cap_in.models import CapDocument
from app.integrations.cap_in.poller import Poller
from app.outbound.guard import Policy
from app.outbound.http import OutboundClient
from tests.auth.factories import Account

SENDER = "alerts@agency.example"
_counter = itertools.count(1)
# Near central London (tests.alerts.factories.LONDON), as CAP writes them: lat,lon.
RING = [(51.50, -0.13), (51.50, -0.12), (51.51, -0.12), (51.51, -0.13), (51.50, -0.13)]
RING_EAST = [(51.50, -0.11), (51.50, -0.10), (51.51, -0.10), (51.51, -0.11), (51.50, -0.11)]


def cap_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def polygon(ring: list[tuple[float, float]]) -> str:
    return " ".join(f"{lat},{lon}" for lat, lon in ring)


@dataclass(frozen=True)
class CapArea:
    description: str = "Town centre"
    polygons: tuple[str, ...] = ()
    circles: tuple[str, ...] = ()  # "lat,lon km"
    geocodes: tuple[tuple[str, str], ...] = ()


def circle_area(lat: float = 51.5072, lon: float = -0.1276, km: float = 1.5) -> CapArea:
    return CapArea(circles=(f"{lat},{lon} {km}",))


def polygon_area(ring: list[tuple[float, float]] = RING) -> CapArea:
    return CapArea(polygons=(polygon(ring),))


@dataclass(frozen=True)
class Cap:
    identifier: str
    sender: str
    sent: datetime

    @property
    def reference(self) -> str:
        return f"{self.sender},{self.identifier},{cap_time(self.sent)}"


def new_cap(sender: str = SENDER, sent: datetime | None = None) -> Cap:
    sent = sent or datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    return Cap(f"urn:test:{next(_counter)}:{uuid.uuid4().hex[:8]}", sender, sent)


def cap_document(
    cap: Cap,
    *,
    msg_type: str = "Alert",
    status: str = "Actual",
    scope: str = "Public",
    references: tuple[Cap, ...] = (),
    headline: str = "Flooding on the high street",
    description: str = "The river has burst its banks by the bridge.",
    instruction: str | None = "- Move valuables upstairs\n- Check on neighbours",
    severity: str = "Severe",
    urgency: str = "Immediate",
    certainty: str = "Observed",
    event: str = "Burglary",
    expires: datetime | None = None,
    areas: list[CapArea] | None = None,
    language: str = "en-GB",
    with_info: bool = True,
) -> bytes:
    """A CAP 1.2 document, valid against the OASIS schema."""
    expires = expires or datetime.now(UTC) + timedelta(hours=6)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">',
        f"<identifier>{escape(cap.identifier)}</identifier>",
        f"<sender>{escape(cap.sender)}</sender>",
        f"<sent>{cap_time(cap.sent)}</sent>",
        f"<status>{status}</status>",
        f"<msgType>{msg_type}</msgType>",
        f"<scope>{scope}</scope>",
    ]
    if scope == "Restricted":
        parts.append("<restriction>Officers only</restriction>")
    if references:
        parts.append(f"<references>{' '.join(r.reference for r in references)}</references>")
    if with_info:
        parts += [
            "<info>",
            f"<language>{language}</language>",
            "<category>Safety</category>",
            f"<event>{escape(event)}</event>",
            f"<urgency>{urgency}</urgency>",
            f"<severity>{severity}</severity>",
            f"<certainty>{certainty}</certainty>",
            f"<expires>{cap_time(expires)}</expires>",
            "<senderName>Riverside Council</senderName>",
            f"<headline>{escape(headline)}</headline>",
            f"<description>{escape(description)}</description>",
        ]
        if instruction:
            parts.append(f"<instruction>{escape(instruction)}</instruction>")
        for area in areas if areas is not None else [circle_area()]:
            parts.append(f"<area><areaDesc>{escape(area.description)}</areaDesc>")
            parts += [f"<polygon>{p}</polygon>" for p in area.polygons]
            parts += [f"<circle>{c}</circle>" for c in area.circles]
            parts += [
                f"<geocode><valueName>{n}</valueName><value>{v}</value></geocode>"
                for n, v in area.geocodes
            ]
            parts.append("</area>")
        parts.append("</info>")
    parts.append("</alert>")
    return "\n".join(parts).encode()


def atom_index(links: list[str], *, typed: bool = True) -> bytes:
    entries = "".join(
        "<entry>"
        f"<id>urn:uuid:{uuid.uuid4()}</id><title>Alert {i}</title>"
        "<updated>2026-12-01T10:00:00Z</updated>"
        + (
            f'<link rel="alternate" type="application/cap+xml" href="{escape(link)}"/>'
            if typed
            else f'<link href="{escape(link)}"/>'
        )
        + "</entry>"
        for i, link in enumerate(links)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:test:feed</id>'
        "<title>Agency alerts</title><updated>2026-12-01T10:00:00Z</updated>"
        f"{entries}</feed>"
    ).encode()


def rss_index(links: list[str], *, enclosures: bool = False) -> bytes:
    items = "".join(
        f"<item><title>Alert {i}</title>"
        + (
            f'<enclosure url="{escape(link)}" length="0" type="application/cap+xml"/>'
            if enclosures
            else f"<link>{escape(link)}</link>"
        )
        + "</item>"
        for i, link in enumerate(links)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        "<title>Agency alerts</title><link>https://agency.example/</link>"
        f"<description>Alerts</description>{items}</channel></rss>"
    ).encode()


async def register(
    client: httpx.AsyncClient,
    admin: Account,
    url: str,
    *,
    sender: str = SENDER,
    name: str = "Riverside Council",
    **fields: Any,
) -> dict[str, Any]:
    trust = {"sender": sender, **fields.pop("trust", {})}
    answer = await client.post(
        "/v1/admin/cap-sources",
        headers=admin.headers,
        json={"url": url, "name": name, "trust": trust, **fields},
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


@asynccontextmanager
async def poller_for(app: FastAPI, policy: Policy | None = None) -> AsyncIterator[Poller]:
    """The app's poller, as the dispatcher process runs it; `policy` replaces the
    fetch guard's (a deployment whose exemptions changed since registration)."""
    settings = app.state.settings
    client = OutboundClient(policy, max_read=settings.cap_max_bytes) if policy else None
    poller = Poller(app.state.sessionmaker, settings, client)
    try:
        yield poller
    finally:
        await poller.close()


def soon(seconds: float = 1) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def documents(app: FastAPI, source_id: str) -> list[CapDocument]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            select(CapDocument)
            .where(col(CapDocument.source_id) == uuid.UUID(source_id))
            .order_by(col(CapDocument.received_at))
        )
        return list(rows.scalars().all())


async def logged(
    client: httpx.AsyncClient, admin: Account, source_id: str, **params: str
) -> list[dict[str, Any]]:
    answer = await client.get(
        f"/v1/admin/cap-sources/{source_id}/documents", headers=admin.headers, params=params
    )
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items
