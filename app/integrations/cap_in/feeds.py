"""What a source serves: one CAP document, or an Atom or RSS index linking to several.

Read with the same refusals as a CAP document (defusedxml, no DTD at all), and only so
far as to find the links: each linked document is fetched and judged on its own.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urljoin

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from app.integrations.cap_in.parse import CAP_NS, Invalid

ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_MEDIA_TYPE = "application/cap+xml"
# Entries read from one index: a feed of thousands is read a page at a time, newest
# first as feeds list them, over the next polls.
MAX_ENTRIES = 200
_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Index:
    kind: Literal["cap", "atom", "rss"]
    links: list[str] = field(default_factory=list)  # absolute URLs, in feed order


def read_index(body: bytes, base_url: str) -> Index:
    """Raises `Invalid` for anything but a CAP alert, an Atom feed or an RSS 2.0 feed."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise Invalid(f"refused: {exc.__class__.__name__} (no DTDs or entities)") from exc
    except ET.ParseError as exc:
        raise Invalid(f"not well-formed XML: {exc}") from exc
    if root.tag == f"{{{CAP_NS}}}alert":
        return Index("cap", [base_url])
    if root.tag == f"{{{ATOM_NS}}}feed":
        links = [_atom_link(entry) for entry in root.findall(f"{{{ATOM_NS}}}entry")]
        return Index("atom", _absolute(links, base_url))
    if root.tag == "rss":
        items = root.findall("channel/item")
        return Index("rss", _absolute([_rss_link(item) for item in items], base_url))
    raise Invalid(f"neither a CAP 1.2 alert nor an Atom or RSS feed (root {root.tag!r})")


def sent_of(document: bytes) -> datetime:
    """A document's `sent`, read without the schema, for ordering only (what cannot be
    read sorts first: it is judged, and logged, on its own)."""
    try:
        root = SafeET.fromstring(document, forbid_dtd=True)
        sent = root.find(f"{{{CAP_NS}}}sent")
        if sent is not None and sent.text:
            value = datetime.fromisoformat(sent.text.strip())
            if value.tzinfo is not None:
                return value.astimezone(UTC)
    except (DefusedXmlException, ET.ParseError, ValueError, OverflowError):
        pass
    return _EARLIEST


def _atom_link(entry: ET.Element) -> str | None:
    """The entry's CAP link: the one typed application/cap+xml, else its alternate."""
    links = entry.findall(f"{{{ATOM_NS}}}link")
    for link in links:
        if (link.get("type") or "").split(";")[0].strip() == CAP_MEDIA_TYPE:
            return link.get("href")
    for link in links:
        if link.get("rel", "alternate") == "alternate":
            return link.get("href")
    return None


def _rss_link(item: ET.Element) -> str | None:
    """The item's CAP enclosure, else its link."""
    for enclosure in item.findall("enclosure"):
        if (enclosure.get("type") or "").split(";")[0].strip() == CAP_MEDIA_TYPE:
            return enclosure.get("url")
    link = item.find("link")
    return link.text.strip() if link is not None and link.text else None


def _absolute(links: list[str | None], base_url: str) -> list[str]:
    seen: dict[str, None] = {}
    for link in links:
        if link and link.strip():
            seen.setdefault(urljoin(base_url, link.strip()), None)
    return list(seen)[:MAX_ENTRIES]
