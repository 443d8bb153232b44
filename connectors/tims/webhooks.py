"""TIMS webhooks (connectors/tims/README.md "Webhooks"): the signature check and the events.

The engine's inbox stores the raw body and answers at once; this module only says whether a
delivery is the site's and which records it announces. Delivery is at least once and
unordered: ``event_id`` is the dedup key, and polling stays the source of truth.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from connectors.base import MappingFailed

SIGNATURE_HEADER = "tims-signature"
TOLERANCE_SECONDS = 300

# Event type prefix → the canonical entity whose flows should look again.
ENTITY_BY_PREFIX = {
    "salesorder": "sales_order",
    "payment": "payment",
    "inventory.adjustment": "inventory_adjustment",
    "customer": "customer",
    "vendor": "vendor",
    "product": "product",
    "vendorbill": "vendor_bill",
    "gl.entry": "gl_entry",
}


# openapi.yaml `EventType`, less `ping` (which names no record).
EVENT_TYPES = (
    "salesorder.status_changed", "payment.created", "payment.voided", "inventory.adjustment.created",
    "customer.created", "customer.updated", "vendor.created", "vendor.updated", "product.created",
    "product.updated", "vendorbill.created", "gl.entry.posted",
)


def entity_of(event_type: str) -> str:
    """The entity an event type is about ("" for ``ping`` and unknown types)."""
    return _entity(event_type)


@dataclass(frozen=True)
class WebhookEvent:
    entity: str
    remote_id: str
    key: str  # the event_id: the same id is the same event, however often delivered
    event_type: str


def signature_is_valid(raw_body: bytes, header: str | None, secret: str, *, now: float | None = None,
                       tolerance: int = TOLERANCE_SECONDS) -> bool:
    """``t=<unix>,v1=<hex>`` with hex = HMAC-SHA256(secret, "<t>." + raw body); any ``v1`` may
    match (two during a secret rotation); a timestamp too far from now is refused (replays)."""
    if not header or not secret:
        return False
    fields = [item.strip().partition("=") for item in header.split(",")]
    stamps = [value for key, _, value in fields if key == "t"]
    candidates = [value for key, _, value in fields if key == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    if abs((time.time() if now is None else now) - int(stamps[0])) > tolerance:
        return False
    expected = hmac.new(secret.encode(), stamps[0].encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


def verify(raw_body: bytes, headers: Mapping[str, str], secret: str,
           *, clock: Callable[[], float] = time.time) -> bool:
    return signature_is_valid(raw_body, headers.get(SIGNATURE_HEADER), secret, now=clock())


def _entity(event_type: str) -> str:
    for prefix, entity in ENTITY_BY_PREFIX.items():
        if event_type.startswith(prefix + "."):
            return entity
    return ""


def parse(raw_body: bytes, headers: Mapping[str, str] | None = None) -> list[WebhookEvent]:
    """The delivery's event (one per delivery); ``ping`` announces no record."""
    try:
        body = json.loads(raw_body)
        event_id, event_type = str(body["event_id"]), str(body["event_type"])
    except (ValueError, KeyError, TypeError):
        raise MappingFailed("not a TIMS webhook payload") from None
    entity = _entity(event_type)
    if not entity:
        return []
    data = body.get("data") or {}
    return [WebhookEvent(entity=entity, remote_id=str(data.get("id", "")), key=f"tims:{event_id}", event_type=event_type)]
