"""Open311's XML: the JSON answer's fields as elements, lists as one element per item, no
namespace, an XML declaration, UTF-8."""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

XML_MEDIA_TYPE = "text/xml; charset=utf-8"
DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'
# The element of each item of a list, by the list's name (the specification's).
ITEMS = {
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "service_requests": "request",
    "errors": "error",
}
# What XML 1.0 cannot carry at all; text we store refuses it anyway (app.text).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(element: Element, value: Any) -> None:
    if isinstance(value, dict):
        for name, member in value.items():
            _fill(SubElement(element, name), member)
    elif isinstance(value, list):
        item = ITEMS[element.tag]
        for member in value:
            _fill(SubElement(element, item), member)
    else:
        element.text = _text(value)


def document(root: str, value: Any) -> bytes:
    """`value` (a JSON answer) as the document whose root element is `root`."""
    element = Element(root)
    _fill(element, value)
    return DECLARATION + tostring(element, encoding="unicode").encode()


EXAMPLES = {
    "discovery": '<?xml version="1.0" encoding="utf-8"?>\n<discovery><changeset>'
    "2026-12-01T00:00:00+00:00</changeset><contact>Ask the service's admins.</contact>"
    "<key_service>An API client with incidents:write.</key_service><endpoints><endpoint>"
    "<specification>http://wiki.open311.org/GeoReport_v2</specification>"
    "<url>https://api.example.org/open311/v2</url><changeset>2026-12-01T00:00:00+00:00"
    "</changeset><type>production</type><formats><format>text/xml</format>"
    "<format>application/json</format></formats></endpoint></endpoints></discovery>",
    "services": '<?xml version="1.0" encoding="utf-8"?>\n<services><service>'
    "<service_code>burglary</service_code><service_name>Burglary</service_name>"
    "<description>A home, shed or business broken into.</description>"
    "<metadata>true</metadata><type>realtime</type><keywords>break-in,burglar</keywords>"
    "<group>crime</group></service></services>",
    "service_definition": '<?xml version="1.0" encoding="utf-8"?>\n<service_definition>'
    "<service_code>burglary</service_code><attributes><attribute><variable>true</variable>"
    "<code>occurred_at</code><datatype>datetime</datatype><required>false</required>"
    "<datatype_description>A W3C date-time with an offset</datatype_description>"
    "<order>1</order><description>When it happened</description><values />"
    "</attribute></attributes></service_definition>",
    "service_requests": '<?xml version="1.0" encoding="utf-8"?>\n<service_requests><request>'
    "<service_request_id>0b6c5e3e-8f1a-4c39-9a57-2f4d1c7e9b10</service_request_id>"
    "<status>open</status><status_notes>Verified by a moderator.</status_notes>"
    "<service_name>Burglary</service_name><service_code>burglary</service_code>"
    "<description>Shed door forced, bike taken.</description><agency_responsible />"
    "<service_notice /><requested_datetime>2026-11-23T21:40:00+00:00</requested_datetime>"
    "<updated_datetime>2026-11-24T08:00:00+00:00</updated_datetime><expected_datetime />"
    "<address /><address_id /><zipcode /><lat>51.5081</lat><long>-0.1272</long>"
    "<media_url /></request></service_requests>",
    "created": '<?xml version="1.0" encoding="utf-8"?>\n<service_requests><request>'
    "<service_request_id>0b6c5e3e-8f1a-4c39-9a57-2f4d1c7e9b10</service_request_id>"
    "<service_notice>Moderators review reports before they act.</service_notice>"
    "<account_id /></request></service_requests>",
    "errors": '<?xml version="1.0" encoding="utf-8"?>\n<errors><error><code>400</code>'
    "<description>service_code: no such service</description></error></errors>",
}
