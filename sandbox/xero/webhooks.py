"""Webhooks as Xero sends them (api-notes §3).

Changes are written to an outbox (:class:`~sandbox.models.XeroWebhookEvent`) in the same
transaction as the change, one row per app connected to the tenant whose webhook is set.
:func:`deliver_pending` (also ``manage.py sandbox_deliver_webhooks``) posts them later, signed
with ``x-xero-signature`` = base64(HMAC-SHA256(webhook key, raw body)). Events only flow once
the app's endpoint has passed Intent to Receive: :func:`intent_to_receive` sends correctly and
incorrectly signed empty payloads and expects 200 and 401.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, timedelta

import httpx
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from config.db import select_rows

from sandbox.common.webhooks import RetrySchedule, post_signed
from sandbox.models import XeroApp, XeroConnection, XeroCreditNote, XeroTenant, XeroWebhookEvent

RESOURCE_PATHS = {"INVOICE": "Invoices", "CONTACT": "Contacts", "CREDITNOTE": "CreditNotes"}
API_BASE = "https://api.xero.com/api.xro/2.0"  # resourceUrl names Xero's URL, as the real payload does
# Xero retries "with decreasing frequency" for up to 24 hours, then disables the webhook (api-notes §3).
RETRY_SCHEDULE = RetrySchedule(
    waits=(timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1), timedelta(hours=3)),
    then_every=timedelta(hours=6),
    give_up_after=timedelta(hours=24),
)
TIMEOUT_SECONDS = 5.0  # the receiver must answer within 5 seconds
BATCH_SIZE = 50


def sign(key: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def _apps_for(tenant: XeroTenant) -> list[XeroApp]:
    """The apps whose webhooks hear of the tenant's changes: those connected to it, or its
    Custom Connection. Every write asks, so these are statements made once (``select_rows``)."""
    # Only an active subscription (Intent to Receive passed, not disabled) collects events.
    subscribed = XeroApp.WebhookStatus.OK
    apps = {app.pk: app for app in select_rows(XeroApp, None, custom_connection_tenant_id=tenant.pk, webhook_status=subscribed)}
    connected = [app_id for (app_id,) in select_rows(XeroConnection, ["app_id"], tenant_id=tenant.pk)]
    if connected:
        apps.update((app.pk, app) for app in select_rows(XeroApp, None, id=connected, webhook_status=subscribed))
    return [app for _, app in sorted(apps.items()) if app.webhook_url]


@transaction.atomic  # joins the write's transaction when there is one
def record_events(*, tenant: XeroTenant, events: list[tuple[str, str, uuid.UUID]]) -> int:
    """Queue events for every app subscribed to the tenant; called inside the write's transaction."""
    seen: set[tuple[str, uuid.UUID]] = set()
    unique = []
    for category, event_type, resource_id in events:
        if category not in RESOURCE_PATHS:
            continue
        # One event per record and request: a CREATE swallows later UPDATEs of the same record.
        if (category, resource_id) in seen:
            continue
        seen.add((category, resource_id))
        unique.append((category, event_type, resource_id))
    if not unique:
        return 0
    now = timezone.now()
    created = 0
    for app in _apps_for(tenant):
        # Lock the app row so two writers do not take the same sequence numbers.
        XeroApp.objects.select_for_update().filter(pk=app.pk).first()
        last = XeroWebhookEvent.objects.filter(app=app).aggregate(m=Max("sequence"))["m"] or 0
        rows = []
        for offset, (category, event_type, resource_id) in enumerate(unique, start=1):
            rows.append(
                XeroWebhookEvent(
                    app=app,
                    tenant=tenant,
                    sequence=last + offset,
                    event_category=category,
                    event_type=event_type,
                    resource_id=resource_id,
                    resource_url=f"{API_BASE}/{RESOURCE_PATHS[category]}/{resource_id}",
                    event_date=now,
                )
            )
        XeroWebhookEvent.objects.bulk_create(rows)
        created += len(rows)
    return created


def event_payload(event: XeroWebhookEvent) -> dict:
    # eventDateUtc has no "Z" in Xero's payloads (api-notes §3).
    payload = {
        "resourceUrl": event.resource_url,
        "resourceId": str(event.resource_id),
        "eventDateUtc": event.event_date.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
        "eventType": event.event_type,
        "eventCategory": event.event_category,
        "tenantId": str(event.tenant.tenant_id),
        "tenantType": "ORGANISATION",
    }
    if event.event_category == "CREDITNOTE":
        # Credit-note events alone carry the document's Type and Status (api-notes §3).
        note = XeroCreditNote.objects.filter(credit_note_id=event.resource_id).first()
        if note is not None:
            payload["data"] = {"Type": note.type, "Status": note.status}
    return payload


def _post(client: httpx.Client, app: XeroApp, body: bytes, *, key: str | None = None) -> int | None:
    signature = {"x-xero-signature": sign(key or app.webhook_key, body)}
    return post_signed(client, app.webhook_url, body, signature, timeout=TIMEOUT_SECONDS).status


@dataclass(frozen=True)
class IntentResult:
    ok: bool
    answers: list[tuple[bool, int | None]]  # (correctly signed?, status received)


def intent_to_receive(app: XeroApp, *, client: httpx.Client | None = None, rounds: int = 2) -> IntentResult:
    """Xero's ITR: correctly signed empty payloads must get 200, wrongly signed ones 401."""
    own_client = client is None
    client = client or httpx.Client()
    answers = []
    try:
        for _ in range(rounds):
            for correct in (True, False):
                body = json.dumps(
                    {"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": secrets.token_hex(10).upper()},
                    separators=(",", ":"),
                ).encode()
                key = app.webhook_key if correct else secrets.token_urlsafe(48)
                answers.append((correct, _post(client, app, body, key=key)))
    finally:
        if own_client:
            client.close()
    ok = all(status == (200 if correct else 401) for correct, status in answers)
    app.webhook_status = XeroApp.WebhookStatus.OK if ok else XeroApp.WebhookStatus.INTENT_TO_RECEIVE_REQUIRED
    app.save(update_fields=["webhook_status"])
    return IntentResult(ok, answers)


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    skipped_apps: int = 0


def deliver_pending(*, client: httpx.Client | None = None, now=None, app: XeroApp | None = None) -> DeliveryReport:
    """Send what is due, in batches of up to 50 events per app. Failures are retried on a
    schedule; events older than 24 hours are given up and the webhook is disabled."""
    now = now or timezone.now()
    own_client = client is None
    client = client or httpx.Client()
    sent = failed = skipped = 0
    try:
        apps = XeroApp.objects.filter(
            webhook_events__status=XeroWebhookEvent.Status.PENDING, webhook_events__next_attempt_at__lte=now
        ).distinct()
        if app is not None:
            apps = apps.filter(pk=app.pk)
        for target in apps:
            if target.webhook_status != XeroApp.WebhookStatus.OK or not target.webhook_url:
                skipped += 1
                continue
            while True:
                events = list(
                    XeroWebhookEvent.objects.select_related("tenant")
                    .filter(app=target, status=XeroWebhookEvent.Status.PENDING, next_attempt_at__lte=now)
                    .order_by("sequence")[:BATCH_SIZE]
                )
                if not events:
                    break
                delivered = _deliver_batch(client, target, events, now)
                sent += delivered
                if not delivered:
                    failed += len(events)
                    break
    finally:
        if own_client:
            client.close()
    return DeliveryReport(sent, failed, skipped)


def _deliver_batch(client: httpx.Client, target: XeroApp, events: list[XeroWebhookEvent], now) -> int:
    """Post one batch; the number delivered (0 on failure, the events then rescheduled)."""
    body = json.dumps(
        {
            "events": [event_payload(e) for e in events],
            "firstEventSequence": events[0].sequence,
            "lastEventSequence": events[-1].sequence,
            "entropy": secrets.token_hex(10).upper(),
        },
        separators=(",", ":"),
    ).encode()
    status = _post(client, target, body)
    with transaction.atomic():
        if status == 200:
            XeroWebhookEvent.objects.filter(pk__in=[e.pk for e in events]).update(
                status=XeroWebhookEvent.Status.DELIVERED, delivered_at=now, last_response_status=200
            )
            return len(events)
        for event in events:
            event.attempts += 1
            event.last_response_status = status
            if now - event.event_date >= RETRY_SCHEDULE.give_up_after:
                event.status = XeroWebhookEvent.Status.FAILED
            else:
                event.next_attempt_at = now + RETRY_SCHEDULE.wait_after(event.attempts)
            event.save(update_fields=["attempts", "last_response_status", "status", "next_attempt_at"])
        if any(e.status == XeroWebhookEvent.Status.FAILED for e in events):
            target.webhook_status = XeroApp.WebhookStatus.DISABLED
            target.save(update_fields=["webhook_status"])
    return 0
