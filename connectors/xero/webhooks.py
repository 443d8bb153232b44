"""Xero webhooks (api-notes/xero.md §3): the signature check and the payload, read into
events the engine can queue. The engine's inbox view stores the raw body and answers within
5 seconds; this module only says whether the body is Xero's and what it announces."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime

from connectors.base import MappingFailed
from connectors.xero.codecs import parse_datetime

SIGNATURE_HEADER = "x-xero-signature"

# Webhook categories → canonical entities; SUBSCRIPTION concerns the app, not a record.
ENTITY_BY_CATEGORY = {"INVOICE": "invoice", "CONTACT": "contact", "CREDITNOTE": "credit_note"}


def signature_is_valid(raw_body: bytes, signature: str | None, signing_key: str) -> bool:
    """base64(HMAC-SHA256(signing key, the raw body bytes)), compared in constant time. Hash
    the bytes as received, never re-serialised JSON (§3). An empty or missing signature is
    invalid, which is what Intent to Receive probes expect (401)."""
    if not signature or not signing_key:
        return False
    expected = base64.b64encode(hmac.new(signing_key.encode(), raw_body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, signature.strip())


@dataclass(frozen=True)
class WebhookEvent:
    tenant_id: str
    tenant_type: str
    category: str
    event_type: str  # CREATE or UPDATE (archiving included)
    resource_id: str
    resource_url: str
    occurred_at: datetime  # aware UTC
    entity: str  # the canonical entity to fetch, "" for SUBSCRIPTION

    @property
    def dedup_key(self) -> str:
        """Delivery is at-least-once: the same key means the same event (§3)."""
        return f"xero:{self.tenant_id}:{self.resource_id}:{self.event_type}:{self.occurred_at.isoformat()}"


def parse_events(raw_body: bytes) -> list[WebhookEvent]:
    """The events of one delivery; an Intent to Receive probe has none. The payload carries no
    record, only ids: fetch each one (it costs a call from the tenant's budget)."""
    try:
        body = json.loads(raw_body)
        events = body["events"]
    except (ValueError, KeyError, TypeError):
        raise MappingFailed("not a Xero webhook payload") from None
    parsed = []
    for event in events:
        try:
            category = str(event["eventCategory"])
            parsed.append(
                WebhookEvent(
                    tenant_id=str(event["tenantId"]),
                    tenant_type=str(event["tenantType"]),
                    category=category,
                    event_type=str(event["eventType"]),
                    resource_id=str(event["resourceId"]),
                    resource_url=str(event["resourceUrl"]),
                    # eventDateUtc has no zone designator: it is UTC (§3).
                    occurred_at=parse_datetime(str(event["eventDateUtc"])),
                    entity=ENTITY_BY_CATEGORY.get(category, ""),
                )
            )
        except (KeyError, TypeError):
            raise MappingFailed("a Xero webhook event without its required fields", response=event) from None
    return parsed
