"""A CAP 1.2 document, checked and read: what an agency's alert says, in our terms.

The document is someone else's XML, so before anything reads it: a size bound, a parser
that refuses any DTD (no entity expansion, so no billion laughs; no external entities,
so no XXE: defusedxml), and validation against the OASIS schema (cap12.xsd, beside this
module). Only then are its fields read. `alert_fields` maps the chosen `info` (English,
else the first) onto the fields of our alerts; what cannot be mapped raises
`Unsupported` with the reason, which the caller records.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
import xmlschema
from defusedxml import DefusedXmlException

from app.categories import LABELS, Category

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
SCHEMA = Path(__file__).with_name("cap12.xsd")
MAX_BYTES = 1_000_000
# Without `expires`, an alert lives this long after it was sent (at most our 7 days).
DEFAULT_LIFETIME = timedelta(hours=24)
MAX_LIFETIME = timedelta(days=7)
# Circles inside a multi-area alert become polygons of this many sides.
CIRCLE_SIDES = 64
EARTH_M_PER_DEGREE = 111_195.0
_ACTION = re.compile(r"^\s*(?:[-*•]\s*)?(?P<text>.+?)(?:\s+\((?P<url>https?://[^\s)]+)\))?\s*$")
_LABELLED = {label.lower(): category for category, label in LABELS.items()}


class Invalid(ValueError):
    """Not a CAP 1.2 document we may read: unsafe, malformed, or against the schema."""


class Unsupported(ValueError):
    """A valid CAP document that cannot become one of our alerts (the reason says why)."""


@dataclass(frozen=True)
class Circle:
    lon: float
    lat: float
    radius_m: float


@dataclass(frozen=True)
class Area:
    description: str
    polygons: list[list[list[float]]] = field(default_factory=list)  # rings of [lon, lat]
    circles: list[Circle] = field(default_factory=list)


@dataclass(frozen=True)
class Info:
    language: str
    event: str
    urgency: str
    severity: str
    certainty: str
    expires: datetime | None
    headline: str | None
    description: str | None
    instruction: str | None
    sender_name: str | None
    areas: list[Area]


@dataclass(frozen=True)
class Reference:
    sender: str
    identifier: str
    sent: datetime


@dataclass(frozen=True)
class CapAlert:
    identifier: str
    sender: str
    sent: datetime
    status: str  # Actual | Exercise | System | Test | Draft
    msg_type: str  # Alert | Update | Cancel | Ack | Error
    scope: str
    references: list[Reference]
    info: Info | None  # the English one, else the first


@cache
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMA))


def parse(document: bytes) -> CapAlert:
    if len(document) > MAX_BYTES:
        raise Invalid(f"larger than {MAX_BYTES:,} bytes")
    try:
        root = SafeET.fromstring(document, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise Invalid(f"refused: {exc.__class__.__name__} (no DTDs or entities)") from exc
    except ET.ParseError as exc:
        raise Invalid(f"not well-formed XML: {exc}") from exc
    errors = [str(e.reason or e.message) for e in schema().iter_errors(root)]
    if errors:
        raise Invalid(f"not valid CAP 1.2: {errors[0]}"[:1000])
    return _read(root)


def _text(parent: ET.Element, tag: str) -> str | None:
    child = parent.find(f"{{{CAP_NS}}}{tag}")
    return child.text.strip() if child is not None and child.text else None


def _required(parent: ET.Element, tag: str) -> str:
    value = _text(parent, tag)
    if value is None:  # the schema requires it; kept for the type checker
        raise Invalid(f"no {tag}")
    return value


def _all(parent: ET.Element, tag: str) -> list[str]:
    return [c.text.strip() for c in parent.findall(f"{{{CAP_NS}}}{tag}") if c.text]


def _read(root: ET.Element) -> CapAlert:
    infos = root.findall(f"{{{CAP_NS}}}info")
    chosen = next(
        (i for i in infos if (_text(i, "language") or "en-US").lower().startswith("en")),
        infos[0] if infos else None,
    )
    references = []
    for item in (_text(root, "references") or "").split():
        sender, identifier, sent = item.rsplit(",", 2) if item.count(",") >= 2 else ("", "", "")
        if identifier:
            references.append(Reference(sender, identifier, datetime.fromisoformat(sent)))
    return CapAlert(
        identifier=_required(root, "identifier"),
        sender=_required(root, "sender"),
        sent=datetime.fromisoformat(_required(root, "sent")),
        status=_required(root, "status"),
        msg_type=_required(root, "msgType"),
        scope=_required(root, "scope"),
        references=references,
        info=_info(chosen) if chosen is not None else None,
    )


def _info(info: ET.Element) -> Info:
    expires = _text(info, "expires")
    return Info(
        language=_text(info, "language") or "en-US",
        event=_required(info, "event"),
        urgency=_required(info, "urgency"),
        severity=_required(info, "severity"),
        certainty=_required(info, "certainty"),
        expires=datetime.fromisoformat(expires) if expires else None,
        headline=_text(info, "headline"),
        description=_text(info, "description"),
        instruction=_text(info, "instruction"),
        sender_name=_text(info, "senderName"),
        areas=[_area(a) for a in info.findall(f"{{{CAP_NS}}}area")],
    )


def _area(area: ET.Element) -> Area:
    polygons = []
    for text in _all(area, "polygon"):
        ring = []
        for pair in text.split():
            lat, lon = (float(v) for v in pair.split(","))
            ring.append([lon, lat])
        polygons.append(ring)
    circles = []
    for text in _all(area, "circle"):
        point, radius_km = text.split()
        lat, lon = (float(v) for v in point.split(","))
        circles.append(Circle(lon, lat, float(radius_km) * 1000))
    return Area(_text(area, "areaDesc") or "", polygons, circles)


def alert_fields(cap: CapAlert, now: datetime) -> dict[str, Any]:
    """The fields of one of our alerts (as AlertCreate takes them) for this document."""
    info = cap.info
    if info is None:
        raise Unsupported("no info block")
    # One line, as our titles are: a headline may wrap.
    title = " ".join((info.headline or info.event).split())[:120]
    expires = info.expires or cap.sent + DEFAULT_LIFETIME
    return {
        "title": title,
        "body": (info.description or title)[:4000],
        "category": _category(info.event),
        # CAP's Unknown severity would otherwise pass every resident's minimum: the lowest.
        "severity": "minor" if info.severity == "Unknown" else info.severity.lower(),
        "urgency": info.urgency.lower(),
        "certainty": "likely" if info.certainty == "Very Likely" else info.certainty.lower(),
        "expires_at": min(expires, now + MAX_LIFETIME),
        "area": area_geojson(info.areas),
        "actions": actions(info.instruction),
        "status": "exercise" if cap.status == "Exercise" else "actual",
    }


def _category(event: str) -> str:
    return _LABELLED.get(event.strip().lower(), Category.other).value


def actions(instruction: str | None) -> list[dict[str, str]]:
    """Instruction lines as actions (at most 10): a line `- text (https://…)` keeps its
    link, as our own CAP documents write them."""
    out: list[dict[str, str]] = []
    for line in (instruction or "").splitlines():
        match = _ACTION.match(line)
        if not match or not match["text"].strip():
            continue
        action = {"text": match["text"].strip()[:200]}
        if match["url"]:
            action["url"] = match["url"]
        out.append(action)
    return out[:10]


def area_geojson(areas: list[Area]) -> dict[str, Any]:
    """One polygon → Polygon; one circle alone → our circle (Point + radius_m); anything
    more → a MultiPolygon, circles as polygons. Areas given only by geocodes are not
    supported: we cannot look their shapes up."""
    polygons = [ring for a in areas for ring in a.polygons]
    circles = [c for a in areas for c in a.circles]
    if not polygons and not circles:
        raise Unsupported("no polygon or circle (geocode-only areas are not supported)")
    if len(polygons) == 1 and not circles:
        return {"type": "Polygon", "coordinates": [polygons[0]]}
    if len(circles) == 1 and not polygons:
        c = circles[0]
        return {"type": "Point", "coordinates": [c.lon, c.lat], "radius_m": c.radius_m}
    rings = polygons + [_circle_ring(c) for c in circles]
    return {"type": "MultiPolygon", "coordinates": [[ring] for ring in rings]}


def _circle_ring(c: Circle) -> list[list[float]]:
    dlat = c.radius_m / EARTH_M_PER_DEGREE
    dlon = dlat / max(math.cos(math.radians(c.lat)), 1e-6)
    ring = [
        [
            c.lon + dlon * math.cos(2 * math.pi * k / CIRCLE_SIDES),
            c.lat + dlat * math.sin(2 * math.pi * k / CIRCLE_SIDES),
        ]
        for k in range(CIRCLE_SIDES)
    ]
    return [*ring, ring[0]]
