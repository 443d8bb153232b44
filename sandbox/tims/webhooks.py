"""Webhooks as the contract sends them.

Events are written to an outbox (:class:`~sandbox.models.TimsWebhookEvent`) in the same
transaction as the change, one row per active subscription that asked for the event type.
:func:`deliver_pending` (also ``manage.py sandbox_tims_deliver_webhooks``) posts what is due
with ``TIMS-Signature: t=<unix>,v1=<hex>`` where ``hex = HMAC-SHA256(secret, "<t>." + body)``,
and a second ``v1=`` with the previous secret for 24 hours after a rotation. Failures are
retried after 1 min, 5 min, 15 min, 1 h, 3 h, 6 h, then every 12 h; after 72 hours the
subscription is disabled (``delivery_failures``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.db import transaction
from django.utils import timezone

from sandbox.common.webhooks import RetrySchedule, post_signed
from sandbox.models import TimsSite, TimsWebhookEvent, TimsWebhookSubscription
from sandbox.models.tims import new_record_id
from sandbox.tims.numbers import timestamp

SCHEDULE = RetrySchedule(
    waits=(
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(hours=1),
        timedelta(hours=3),
        timedelta(hours=6),
    ),
    then_every=timedelta(hours=12),
    give_up_after=timedelta(hours=72),
)
TIMEOUT_SECONDS = 10.0  # receivers must answer within 10 s
CLAIM = timedelta(minutes=1)


def new_event_id() -> str:
    return new_record_id("evt")


def new_secret() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "whsec_" + "".join(secrets.choice(alphabet) for _ in range(32))


def signature_header(body: bytes, secrets_: list[str], at: int) -> str:
    digests = [hmac.new(s.encode(), str(at).encode() + b"." + body, hashlib.sha256).hexdigest() for s in secrets_]
    return ",".join([f"t={at}"] + [f"v1={d}" for d in digests])


def _body(event_id: str, event_type: str, occurred_at: datetime, subscription_id: str, actor: dict, data: dict) -> str:
    return json.dumps(
        {
            "event_id": event_id,
            "event_type": event_type,
            "occurred_at": timestamp(occurred_at),
            "api_version": "v1",
            "subscription_id": subscription_id,
            "actor": actor,
            "data": data,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def emit(*, site: TimsSite, event_type: str, data: dict, actor: dict, occurred_at: datetime | None = None) -> str | None:
    """Queue one event for every subscription of the site that wants it; call it inside the
    change's transaction. Returns the event id, or None when nobody subscribed."""
    subscriptions = [
        s
        for s in TimsWebhookSubscription.objects.filter(site=site, status="active", deleted_at__isnull=True)
        if event_type in s.events
    ]
    if not subscriptions:
        return None
    occurred_at = occurred_at or timezone.now()
    event_id = new_event_id()
    TimsWebhookEvent.objects.bulk_create(
        [
            TimsWebhookEvent(
                event_id=event_id,
                subscription=s,
                event_type=event_type,
                occurred_at=occurred_at,
                body=_body(event_id, event_type, occurred_at, s.id, actor, data),
                next_attempt_at=occurred_at,
            )
            for s in subscriptions
        ]
    )
    return event_id


def queue_ping(subscription: TimsWebhookSubscription) -> str:
    """A ``ping`` for one subscription (after creation, and on the ping endpoint)."""
    now = timezone.now()
    event_id = new_event_id()
    TimsWebhookEvent.objects.create(
        event_id=event_id,
        subscription=subscription,
        event_type="ping",
        occurred_at=now,
        body=_body(event_id, "ping", now, subscription.id, {"type": "system"}, {"message": "ping"}),
        next_attempt_at=now,
    )
    return event_id


def signing_secrets(subscription: TimsWebhookSubscription, now: datetime) -> list[str]:
    keys = [subscription.secret]
    if subscription.previous_secret and subscription.previous_secret_expires_at and subscription.previous_secret_expires_at > now:
        keys.append(subscription.previous_secret)
    return keys


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    gave_up: int = 0


def deliver_pending(*, client: httpx.Client | None = None, now: datetime | None = None, site: TimsSite | None = None) -> DeliveryReport:
    """Send every due event once (oldest first). Safe to run from several processes: each
    event is claimed under a row lock that skips rows another sender holds."""
    now = now or timezone.now()
    own_client = client is None
    client = client or httpx.Client()
    sent = failed = gave_up = 0
    try:
        while True:
            with transaction.atomic():
                due = TimsWebhookEvent.objects.select_related("subscription").filter(
                    status=TimsWebhookEvent.Status.PENDING, next_attempt_at__lte=now
                )
                if site is not None:
                    due = due.filter(subscription__site=site)
                event = due.select_for_update(skip_locked=True, of=("self",)).order_by("next_attempt_at", "pk").first()
                if event is None:
                    break
                # Claim it for a while, then post outside the transaction: no lock is held
                # while the receiver (perhaps this very server, on SQLite) writes its inbox.
                TimsWebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=now + CLAIM)
            outcome = _deliver_one(client, event, now)
            sent += outcome == "sent"
            failed += outcome == "failed"
            gave_up += outcome == "gave_up"
            if sent + failed + gave_up >= 10000:  # a safety stop for a receiver that never answers
                break
    finally:
        if own_client:
            client.close()
    return DeliveryReport(sent, failed, gave_up)


def _deliver_one(client: httpx.Client, event: TimsWebhookEvent, now: datetime) -> str:
    subscription = event.subscription
    if subscription.deleted_at is not None:
        event.status = TimsWebhookEvent.Status.CANCELLED
        event.save(update_fields=["status"])
        return "cancelled"
    if subscription.status != "active":
        # Missed while disabled: not re-sent later (the contract says poll to catch up).
        event.status = TimsWebhookEvent.Status.FAILED
        event.last_error = "subscription disabled"
        event.save(update_fields=["status", "last_error"])
        return "gave_up"
    body = event.body.encode()
    attempt = event.attempts + 1
    result = post_signed(
        client,
        subscription.url,
        body,
        {
            "TIMS-Signature": signature_header(body, signing_secrets(subscription, now), int(now.timestamp())),
            "TIMS-Event-Id": event.event_id,
            "TIMS-Event-Type": event.event_type,
            "TIMS-Delivery-Attempt": str(attempt),
        },
        timeout=TIMEOUT_SECONDS,
    )
    event.attempts = attempt
    event.last_response_status = result.status
    event.last_error = result.error
    subscription.last_delivery_at = now
    subscription.last_delivery_status = result.status
    subscription.last_delivery_error = result.error or None
    outcome = "sent"
    if result.ok:
        event.status = TimsWebhookEvent.Status.DELIVERED
        event.delivered_at = now
    elif now - event.occurred_at >= SCHEDULE.give_up_after:
        event.status = TimsWebhookEvent.Status.FAILED
        subscription.status = "disabled"
        subscription.disabled_reason = "delivery_failures"
        outcome = "gave_up"
    else:
        event.next_attempt_at = now + SCHEDULE.wait_after(attempt)
        outcome = "failed"
    event.save()
    # Delivery bookkeeping is not a change of the subscription's data: no version bump.
    TimsWebhookSubscription.objects.filter(pk=subscription.pk).update(
        last_delivery_at=subscription.last_delivery_at,
        last_delivery_status=subscription.last_delivery_status,
        last_delivery_error=subscription.last_delivery_error,
        status=subscription.status,
        disabled_reason=subscription.disabled_reason,
    )
    return outcome
