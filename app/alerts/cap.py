"""CAP 1.2 (OASIS Common Alerting Protocol) documents and the Atom feed that lists them.

Element order follows the schema (`../shared/standards/cap12.xsd`); times carry a
numeric offset (`+00:00`) because the schema's pattern does not accept `Z`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

from app.alerts.models import Alert, AlertStatus, MsgType
from app.alerts.service import actions_text
from app.categories import LABELS, Category

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_MEDIA_TYPE = "application/cap+xml"


def cap_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        element.text = text
    return element


def _ring(coords: list[list[float]]) -> str:
    # CAP: "lat,lon" pairs separated by spaces, first and last the same.
    return " ".join(f"{lat:.6f},{lon:.6f}" for lon, lat in coords)


def _area(info: ET.Element, area: dict[str, Any], description: str) -> None:
    element = _sub(info, "area")
    _sub(element, "areaDesc", description)
    if area["type"] == "Polygon":
        _sub(element, "polygon", _ring(area["coordinates"][0]))
    elif area["type"] == "MultiPolygon":
        for polygon in area["coordinates"]:
            _sub(element, "polygon", _ring(polygon[0]))
    else:
        lon, lat = area["coordinates"]
        _sub(element, "circle", f"{lat:.6f},{lon:.6f} {area['radius_m'] / 1000:.3f}")


def cap_document(alert: Alert, versions: list[Alert], sender: str, group_name: str | None) -> bytes:
    """The alert as a CAP 1.2 document; `versions` is its chain, oldest first."""
    ET.register_namespace("", CAP_NS)
    root = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(root, "identifier", str(alert.id))
    _sub(root, "sender", sender)
    _sub(root, "sent", cap_time(alert.issued_at))
    _sub(root, "status", AlertStatus(alert.status).value.capitalize())
    _sub(root, "msgType", MsgType(alert.msg_type).value.capitalize())
    if alert.group_id is None:
        _sub(root, "scope", "Public")
    else:
        _sub(root, "scope", "Restricted")
        _sub(root, "restriction", f"Members of the watch group {group_name or alert.group_id}")
    earlier = [v for v in versions if v.version < alert.version]
    if earlier:
        _sub(
            root,
            "references",
            " ".join(f"{sender},{v.id},{cap_time(v.issued_at)}" for v in earlier),
        )
    info = _sub(root, "info")
    _sub(info, "language", "en-GB")
    _sub(info, "category", "Security")
    _sub(info, "event", LABELS[Category(alert.category)])
    if alert.actions:
        _sub(info, "responseType", "Prepare" if alert.msg_type != MsgType.cancel else "AllClear")
    elif alert.msg_type == MsgType.cancel:
        _sub(info, "responseType", "AllClear")
    _sub(info, "urgency", alert.urgency.capitalize())
    _sub(info, "severity", alert.severity.capitalize())
    _sub(info, "certainty", alert.certainty.capitalize())
    _sub(info, "expires", cap_time(alert.expires_at))
    _sub(info, "senderName", alert.issuer_name)
    _sub(info, "headline", alert.title)
    _sub(info, "description", alert.body)
    if alert.actions:
        _sub(info, "instruction", actions_text(alert.actions))
    _area(info, alert.area, group_name or "Alert area")
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def atom_feed(alerts: list[Alert], base_url: str, updated: datetime) -> bytes:
    """An Atom (RFC 4287) feed of alerts, each entry linking to its CAP document."""
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "id", f"{base_url}/v1/cap/alerts.atom")
    sub(feed, "title", "Neighbourwatch public alerts")
    sub(feed, "updated", updated.astimezone(UTC).isoformat())
    sub(
        feed, "link", rel="self", href=f"{base_url}/v1/cap/alerts.atom", type="application/atom+xml"
    )
    author = sub(feed, "author")
    sub(author, "name", "Neighbourwatch")
    for alert in alerts:
        entry = sub(feed, "entry")
        sub(entry, "id", f"urn:uuid:{alert.id}")
        sub(entry, "title", alert.title)
        sub(entry, "updated", alert.issued_at.astimezone(UTC).isoformat())
        entry_author = sub(entry, "author")
        sub(entry_author, "name", alert.issuer_name)
        sub(entry, "summary", alert.body[:500])
        sub(
            entry,
            "link",
            rel="alternate",
            type=CAP_MEDIA_TYPE,
            href=f"{base_url}/v1/cap/alerts/{alert.id}",
        )
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))
