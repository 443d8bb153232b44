"""XML answers for clients that do not ask for JSON: the Accounting API answers XML by default
(api-notes §5.1), so a client that forgets ``Accept: application/json`` sees what it would see
on Xero. Dates are ISO in XML, not ``/Date(ms)/``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, SubElement, tostring

from sandbox.xero.dates import MS_DATE

SINGULAR = {"Elements": "DataContractBase", "Tracking": "TrackingCategory", "Addresses": "Address"}


def wants_json(accept: str) -> bool:
    return "json" in accept.lower()


def _singular(name: str) -> str:
    if name in SINGULAR:
        return SINGULAR[name]
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith("s"):
        return name[:-1]
    return name


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        match = MS_DATE.match(value)
        if match:
            moment = datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)
            return moment.strftime("%Y-%m-%dT%H:%M:%S")
        return value
    return json.dumps(value) if isinstance(value, float) else str(value)


def _fill(parent: Element, name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, list):
        holder = SubElement(parent, name)
        for entry in value:
            _fill(holder, _singular(name), entry)
        return
    child = SubElement(parent, name)
    if isinstance(value, dict):
        for key, inner in value.items():
            _fill(child, key, inner)
    else:
        child.text = _text(value)


def json_to_xml(body: bytes) -> bytes:
    """A JSON answer of the emulator as Xero's XML: ``<Response>`` or ``<ApiException>``."""
    data = json.loads(body)
    root = Element("ApiException" if isinstance(data, dict) and "ErrorNumber" in data else "Response")
    for key, value in data.items():
        _fill(root, key, value)
    return tostring(root, encoding="utf-8", xml_declaration=False)
