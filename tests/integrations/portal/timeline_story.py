"""One record's story across TIMS and Xero, for the timeline and monitor tests: a TIMS sales
order that failed once, was synced to a Xero invoice by a retry, was paid, and matched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from integrations.models import (
    ApiCall, AuditEvent, AuditSource, AuthKind, Connection, Environment, Flow, RecordLink, SyncException, SyncRun,
    System,
)
from integrations.roles import AUDITORS, FINANCE, INTEGRATION_ADMINS
from reconciliation.models import DocumentKind, Match, MatchAllocation
from tests.factories import make_connection, make_document, make_flow

SECRET = "s3cr3t-value-that-must-never-render"
ORDER_ID = "rec_so_7f3a9c2e41"
INVOICE_ID = "3f1b2a6e-9d4c-4e8a-b1f0-6c2d7e9a1b23"


def role_users() -> dict[str, User]:
    users = {}
    for name, group in (("finance", FINANCE), ("integrator", INTEGRATION_ADMINS), ("auditor", AUDITORS)):
        user = User.objects.create_user(name, is_staff=True)  # no password: no slow hashing
        user.groups.add(Group.objects.get(name=group))
        users[name] = user
    users["nobody"] = User.objects.create_user("nobody", is_staff=True)
    return users


@dataclass
class Story:
    tims: Connection
    xero: Connection
    flow: Flow
    failed_run: SyncRun
    run: SyncRun
    link: RecordLink
    exception: SyncException
    match: Match
    at: dict[str, datetime]


def _run(flow: Flow, when: datetime, **fields) -> SyncRun:
    run = SyncRun.objects.create(flow=flow, started_at=when, finished_at=when + timedelta(seconds=5), **fields)
    SyncRun.objects.filter(pk=run.pk).update(created_at=when)
    run.refresh_from_db()
    return run


def make_story(*, environment: str = Environment.SANDBOX) -> Story:
    now = timezone.now()
    at = {name: now - timedelta(minutes=minutes) for name, minutes in
          (("failed", 50), ("created", 30), ("paid", 10), ("matched", 5))}
    tims = make_connection(name="TIMS Demo", system=System.TIMS, auth_kind=AuthKind.OAUTH2_CLIENT_CREDENTIALS,
                           environment=environment)
    xero = make_connection(name="Xero Demo", environment=environment)
    xero.set_credentials({"client_secret": SECRET, "refresh_token": SECRET + "-rt"})
    xero.save()
    flow = make_flow(name="TIMS orders to Xero invoices", source_connection=tims, target_connection=xero,
                     source_entity="sales_order", target_entity="invoice", enabled=True)
    failed_run = _run(flow, at["failed"], trigger="schedule", status="partial", read_count=1, failed_count=1)
    run = _run(flow, at["created"], trigger="retry", status="succeeded", read_count=1, created_count=1)
    link = RecordLink.objects.create(source_connection=tims, source_type="sales_order", source_id=ORDER_ID,
                                     source_ref="SO-1001", target_connection=xero, target_type="invoice",
                                     target_id=INVOICE_ID, target_ref="INV-0042", state="linked", last_run=run)
    exception = SyncException.objects.create(
        flow=flow, run=failed_run, record_type="sales_order", record_id=ORDER_ID,
        record_ref="SO-1001", stage="load", error_class="validation", code="xero.validation.account_code",
        message="The account code 999 does not exist in Xero.", status="auto_resolved",
    )
    SyncException.objects.filter(pk=exception.pk).update(created_at=at["failed"] + timedelta(seconds=1))
    ApiCall.objects.create(connection=xero, run=run, method="GET", path=f"/api.xro/2.0/Invoices/{INVOICE_ID}",
                           status_code=200, duration_ms=120, started_at=at["created"] + timedelta(seconds=3))
    ApiCall.objects.create(connection=xero, run=run, method="GET", path="/api.xro/2.0/Invoices/another-invoice",
                           status_code=200, duration_ms=90, started_at=at["created"] + timedelta(seconds=3))
    invoice = make_document(xero, DocumentKind.INVOICE, amount="120.00", external_id=INVOICE_ID, number="INV-0042")
    payment = make_document(xero, DocumentKind.PAYMENT, amount="120.00", external_id="pay-5a1e77c0", number="",
                            reference="SO-1001 payment")
    match = Match.objects.create(payment=payment, status="confirmed", band="auto", score=Decimal("0.97"))
    MatchAllocation.objects.create(match=match, document=invoice, amount=Decimal("120.00"),
                                   payment_amount=Decimal("120.00"), active=True)
    Match.objects.filter(pk=match.pk).update(created_at=at["matched"])
    story = Story(tims=tims, xero=xero, flow=flow, failed_run=failed_run, run=run, link=link, exception=exception,
                  match=match, at=at)
    _record_events(story)
    return story


def _record_events(story: Story) -> None:
    """The audit events, each created at its moment (the trail is append-only: the time is
    given at creation, never changed after)."""
    common = {"source": AuditSource.WORKER, "flow": story.flow}
    order = {"object_system": "tims", "object_type": "sales_order", "object_id": ORDER_ID, "object_ref": "SO-1001"}
    invoice = {"object_system": "xero", "object_type": "invoice", "object_id": INVOICE_ID, "object_ref": "SO-1001"}
    AuditEvent.objects.create(
        created_at=story.at["failed"] + timedelta(seconds=1), action="exception.opened", run=story.failed_run,
        data={"message": "The account code 999 does not exist in Xero.", "code": "x", "attempt": 1},
        **common, **order)
    AuditEvent.objects.create(
        created_at=story.at["created"] + timedelta(seconds=4), action="record.created", run=story.run,
        record_link=story.link, after={"InvoiceNumber": "INV-0042", "Total": "120.00"}, **common, **invoice)
    AuditEvent.objects.create(
        created_at=story.at["created"] + timedelta(seconds=5), action="exception.auto_resolved", run=story.run,
        **common, **order)
    AuditEvent.objects.create(
        created_at=story.at["paid"], action="record.updated", record_link=story.link,
        before={"Status": "AUTHORISED", "AmountDue": "120.00"}, after={"Status": "PAID", "AmountDue": "0.00"},
        **common, **invoice)
    # Someone else's record, touched by the same run: never on this record's timeline.
    AuditEvent.objects.create(
        created_at=story.at["created"] + timedelta(seconds=4), action="record.created", run=story.run,
        after={"InvoiceNumber": "INV-0043"}, **common,
        object_system="xero", object_type="invoice", object_id="99999999-0000-0000-0000-000000000000",
        object_ref="SO-1002")


@pytest.fixture
def story() -> Story:
    return make_story()


@pytest.fixture
def users() -> dict[str, User]:
    return role_users()
