"""The webhook inbox: verify, store, answer at once; a task turns deliveries into runs.

Deliveries are at least once and may repeat: each is stored with a key made from its event
ids, and a second delivery of the same events is recorded as a duplicate and not processed.
A valid delivery never syncs records itself: it asks for a run of each flow it concerns, so
a flow's records are only ever moved by its one active run (no two workers on one record).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from connectors.base import ConnectorError
from integrations.models import (
    Connection, CredentialsUnreadable, Flow, RunTrigger, System, WebhookDelivery, WebhookStatus,
)

# Only these request headers are kept with a delivery (never cookies or authorisation).
KEPT_HEADERS = ("content-type", "user-agent", "x-xero-signature", "tims-signature", "tims-event-id")


@dataclass(frozen=True)
class InboundEvent:
    entity: str
    remote_id: str
    key: str


class WebhookReader(Protocol):
    def verify(self, raw_body: bytes, headers: Mapping[str, str], secret: str) -> bool: ...

    def parse(self, raw_body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]: ...


class XeroReader:
    # A payment changes its invoice, so invoice events also wake the payment flows.
    ENTITIES = {"invoice": ("invoice", "payment"), "contact": ("contact",), "credit_note": ("credit_note",)}

    def verify(self, raw_body: bytes, headers: Mapping[str, str], secret: str) -> bool:
        from connectors.xero.webhooks import SIGNATURE_HEADER, signature_is_valid

        return signature_is_valid(raw_body, headers.get(SIGNATURE_HEADER), secret)

    def parse(self, raw_body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        from connectors.xero.webhooks import parse_events

        return [
            InboundEvent(entity=entity, remote_id=event.resource_id, key=event.dedup_key)
            for event in parse_events(raw_body) if event.entity
            for entity in self.ENTITIES.get(event.entity, (event.entity,))
        ]


class ModuleReader:
    """A connector package's own webhook module with ``verify`` and ``parse`` functions."""

    def __init__(self, path: str) -> None:
        self.path = path

    def verify(self, raw_body: bytes, headers: Mapping[str, str], secret: str) -> bool:
        return import_string(f"{self.path}.verify")(raw_body, headers, secret)

    def parse(self, raw_body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        return [InboundEvent(entity=e.entity, remote_id=e.remote_id, key=e.key)
                for e in import_string(f"{self.path}.parse")(raw_body, headers)]


READERS: dict[str, WebhookReader] = {
    System.XERO: XeroReader(),
    System.TIMS: ModuleReader("connectors.tims.webhooks"),
}


@dataclass(frozen=True)
class Answer:
    status: int
    delivery: WebhookDelivery | None = None


def webhook_receive(*, connection: Connection, raw_body: bytes, headers: Mapping[str, str]) -> Answer:
    """Verify and store one delivery; the caller answers with ``status`` straight away."""
    reader = READERS.get(connection.system)
    if reader is None:
        return Answer(404)
    lowered = {k.lower(): v for k, v in headers.items()}
    kept = {k: v for k, v in lowered.items() if k in KEPT_HEADERS}
    try:
        secret = connection.get_credentials().get("webhook_key", "")
    except CredentialsUnreadable:
        secret = ""
    valid = bool(secret) and reader.verify(raw_body, lowered, secret)
    if not valid:
        # Xero's Intent to Receive sends bad signatures on purpose and wants 401 for them.
        WebhookDelivery.objects.create(system=connection.system, connection=connection, raw_body=raw_body,
                                       headers=kept, signature_valid=False, status=WebhookStatus.REJECTED)
        return Answer(401)
    try:
        events = reader.parse(raw_body, lowered)
    except ConnectorError as exc:
        WebhookDelivery.objects.create(system=connection.system, connection=connection, raw_body=raw_body,
                                       headers=kept, signature_valid=True, status=WebhookStatus.FAILED, error=exc.message)
        return Answer(400)
    if not events:
        return Answer(200)  # Intent to Receive, or events we do not sync
    keys = sorted({event.key for event in events})
    dedup_key = hashlib.sha256("\n".join(keys).encode()).hexdigest()
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                system=connection.system, connection=connection, raw_body=raw_body, headers=kept,
                signature_valid=True, event_ids=keys, dedup_key=dedup_key,
            )
    except IntegrityError:
        WebhookDelivery.objects.create(system=connection.system, connection=connection, raw_body=raw_body,
                                       headers=kept, signature_valid=True, event_ids=keys,
                                       status=WebhookStatus.DUPLICATE)
        return Answer(200)
    transaction.on_commit(lambda: _enqueue(delivery.pk))
    return Answer(200, delivery)


def _enqueue(delivery_id: int) -> None:
    from django_q.tasks import async_task

    async_task("integrations.tasks.process_webhook_task", delivery_id, task_name=f"webhook-{delivery_id}")


def webhook_process(*, delivery_id: int) -> list[Any]:
    """Ask for a run of every enabled flow the delivery's events concern (once per delivery)."""
    from integrations.services.runs import flow_run_request

    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update(of=("self",)).select_related("connection").get(pk=delivery_id)
        if delivery.status != WebhookStatus.RECEIVED:
            return []  # a redelivered task
        delivery.attempts += 1
        reader = READERS[delivery.system]
        events = reader.parse(bytes(delivery.raw_body), delivery.headers)
        entities = {event.entity for event in events}
        flows = list(Flow.objects.filter(source_connection=delivery.connection, source_entity__in=entities, enabled=True))
        delivery.status, delivery.processed_at = WebhookStatus.PROCESSED, timezone.now()
        delivery.save(update_fields=["status", "processed_at", "attempts"])
    runs = [flow_run_request(flow=flow, trigger=RunTrigger.WEBHOOK) for flow in flows]
    return runs


# --- Subscribing a TIMS connection to TIMS webhooks ---------------------------------------------


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    url: str
    events: tuple[str, ...]
    created: bool  # False: an existing subscription to this receiver was kept (and brought in step)


def _without_scheme(url: str) -> str:
    return url.split("://", 1)[-1].rstrip("/")


def tims_webhooks_subscribe(*, connection: Connection, receiver_url: str, actor: Any = None) -> Subscription:
    """Subscribe the connection's TIMS site to the events its flows read, delivered to
    ``receiver_url`` (this portal's inbox for the connection).

    Safe to repeat: a subscription of this client to the same receiver is kept and brought in
    step (events, re-enabled when the site disabled it after failed deliveries) rather than
    made twice. The signing secret is shown by TIMS only when a subscription is created or its
    secret rotated, so it is stored encrypted at once; when we hold none for a kept
    subscription (a create whose answer was lost, say) the secret is rotated to get one."""
    from connectors.tims.webhooks import EVENT_TYPES, entity_of
    from integrations.models import AuditSource
    from integrations.services.audit import audit_event_record, operation
    from integrations.services.connections import connection_credentials_update
    from integrations.services.connectors import connector_for

    if connection.system != System.TIMS:
        raise ValueError(f"{connection.name} is not a TIMS connection; Xero webhooks are set up in Xero's developer portal.")
    entities = set(Flow.objects.filter(source_connection=connection).values_list("source_entity", flat=True))
    events = tuple(e for e in EVENT_TYPES if entity_of(e) in entities) or EVENT_TYPES
    try:
        credentials = connection.get_credentials()
    except CredentialsUnreadable:
        credentials = {}
    with operation() as correlation_id:
        client = connector_for(connection)
        try:
            mine = [s for s in client.list_webhook_subscriptions() if _without_scheme(str(s.get("url", ""))) == _without_scheme(receiver_url)]
            secret = ""
            if mine:
                subscription = mine[0]
                if set(subscription.get("events") or ()) != set(events) or subscription.get("status") != "active":
                    subscription = client.update_webhook_subscription(subscription["id"], events=list(events), status="active")
                if not credentials.get("webhook_key") or credentials.get("webhook_subscription_id") != subscription["id"]:
                    secret = client.rotate_webhook_secret(subscription["id"], idempotency_key=f"rotate-{correlation_id}")["secret"]
            else:
                subscription = client.create_webhook_subscription(
                    receiver_url, events, description="Ledgerbridge", idempotency_key=f"subscribe-{correlation_id}")
                secret = subscription["secret"]
        finally:
            client.close()
        if secret:
            connection_credentials_update(connection=connection, actor=actor,
                                          values={"webhook_key": secret, "webhook_subscription_id": subscription["id"]})
        audit_event_record(
            action="connection.webhooks_subscribed", source=AuditSource.UI if actor else AuditSource.CLI, actor=actor,
            object_system=connection.system, object_type="connection", object_id=connection.pk, object_ref=connection.name,
            data={"events": ", ".join(events), "url": receiver_url, "subscription_id": subscription["id"]},
        )
    return Subscription(subscription_id=subscription["id"], url=receiver_url, events=events, created=not mine)
