"""Posting confirmed matches to the Xero and TIMS sandboxes exactly once: one Xero payment per
allocation whatever the faults (answers lost after the commit, 503s), failures kept with their
message and retried, and undo reversing what was posted."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from integrations.models import AuditEvent
from reconciliation.models import (
    AllocationPosting, AllocationPostingStatus, DocumentKind, LedgerDocument, MatchStatus, PostingKind, PostingStatus,
)
from reconciliation.services.ingest import documents_pull
from reconciliation.services.matches import SplitLine, match_split, match_undo
from reconciliation.services.posting import match_post, postings_retry_due
from tests.factories import make_connection, make_document
from tests.reconciliation.sandbox_books import xero_books
from tests.sandboxes import tims_connection, xero_connection

pytest.importorskip("sandbox.tims.services", reason="the sandbox app is off (SANDBOX_ENABLED=false)")
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch, settings):
    """The connectors' retries without their real waits, and no per-minute budget: the faults
    below make more than Xero's 60 calls a minute, and pacing is tested with the budget."""
    from integrations.services import connectors

    settings.CONNECTOR_RATE_LIMITS = {}
    original = connectors.connector_for
    monkeypatch.setattr("reconciliation.services.posting.connector_for",
                        lambda connection, **options: original(connection, sleep=lambda seconds: None, **options))


@pytest.fixture
def xero(settings, live_server):
    settings.SANDBOX_BASE_URL = f"{live_server.url}/sandbox"
    connection, tenant = xero_connection("Pennine Gases Ltd")
    books = xero_books(connection, amounts={"INV-0301": "300.00", "INV-0302": "200.00", "INV-0303": "100.00"})
    documents_pull(connection=connection)
    return connection, tenant, books


@pytest.fixture
def fiona():
    return User.objects.create_user("fiona", is_staff=True)


def _faults(tenant, **values):
    from sandbox.common.faults import fault_setting_update

    fault_setting_update(system="xero", tenant_key=str(tenant.tenant_id), **values)


def _receipt(amount: str) -> LedgerDocument:
    """A customer receipt recorded in TIMS (the paying side; it needs no TIMS site here)."""
    tims = make_connection(system="tims", auth_kind="oauth2_client")
    return make_document(tims, DocumentKind.PAYMENT, amount=amount, number="PAY-000812", reference="BACS PENNINE 0812",
                         issue_date=date(2026, 11, 14), raw={"deposit_account_code": "1200"})


def _split(connection, payment, user, amounts: dict[str, str]):
    invoices = {d.number: d for d in LedgerDocument.objects.filter(connection=connection, kind=DocumentKind.INVOICE)}
    lines = [SplitLine(document=invoices[number], amount=Decimal(amount)) for number, amount in amounts.items()]
    return match_split(payment=payment, lines=lines, user=user, post=False)


def _xero_payments(tenant, match):
    from sandbox.models import XeroPayment

    return XeroPayment.objects.filter(tenant=tenant, reference__startswith=f"LB-{match.pk}-")


def test_a_split_payment_becomes_one_xero_payment_per_invoice_and_undo_deletes_them(xero, fiona):
    from sandbox.models import XeroInvoice

    connection, tenant, books = xero
    match = _split(connection, _receipt("250.00"), fiona, {"INV-0301": "150.00", "INV-0302": "100.00"})

    match = match_post(match_id=match.pk)
    assert match.posting_status == PostingStatus.POSTED and match.posted_at is not None
    payments = _xero_payments(tenant, match)
    assert sorted((p.invoice.invoice_number, p.amount) for p in payments) == [
        ("INV-0301", Decimal("150.00")), ("INV-0302", Decimal("100.00"))]
    # Into the bank account the receipt's TIMS deposit account maps to (or the first bank account).
    assert {p.account.code for p in payments} == {"090"}
    assert all(p.reference.endswith("BACS PENNINE 0812") for p in payments)
    postings = AllocationPosting.objects.filter(allocation__match=match)
    assert {(p.kind, p.status) for p in postings} == {(PostingKind.XERO_PAYMENT, AllocationPostingStatus.POSTED)}
    assert {p.remote_id for p in postings} == {str(p.payment_id) for p in payments}
    assert AuditEvent.objects.filter(action="match.posted").count() == 2
    assert XeroInvoice.objects.get(tenant=tenant, invoice_number="INV-0301").amount_due == Decimal("150.00")

    # Posting again (a redelivered task) sends nothing.
    match_post(match_id=match.pk, force=True)
    assert _xero_payments(tenant, match).count() == 2
    # Pulled back from Xero, our own payments are not payments waiting to be matched.
    documents_pull(connection=connection)
    assert not LedgerDocument.objects.filter(connection=connection, kind=DocumentKind.PAYMENT,
                                             external_id__in=[p.remote_id for p in postings]).exists()

    # Undo: the payments are deleted, even when the deletion's answer is lost (read back, not repeated).
    _faults(tenant, seed=5, drop_rate=1)
    match = match_undo(match=match, user=fiona)
    _faults(tenant, drop_rate=0)
    assert match.status == MatchStatus.UNDONE and match.posting_status == PostingStatus.NOT_POSTED
    assert set(_xero_payments(tenant, match).values_list("status", flat=True)) == {"DELETED"}
    assert XeroInvoice.objects.get(tenant=tenant, invoice_number="INV-0301").amount_due == Decimal("300.00")
    assert set(AllocationPosting.objects.filter(allocation__match=match).values_list("status", flat=True)) == {
        AllocationPostingStatus.REVERSED}
    assert AuditEvent.objects.filter(action="match.reversed").count() == 2
    assert not match.allocations.filter(active=True).exists()

    # INV-0303 has 60.00 left in Xero (40.00 was paid there): Xero refuses 90.00, in its words.
    refused = _split(connection, _receipt("90.00"), fiona, {"INV-0303": "90.00"})
    refused = match_post(match_id=refused.pk)
    assert refused.posting_status == PostingStatus.FAILED
    posting = AllocationPosting.objects.get(allocation__match=refused)
    assert "amount" in posting.last_error.lower() and _xero_payments(tenant, refused).count() == 0


def test_lost_answers_and_outages_never_make_two_xero_payments_for_an_allocation(xero, fiona):
    connection, tenant, _ = xero
    match = _split(connection, _receipt("100.00"), fiona, {"INV-0301": "100.00"})
    _faults(tenant, seed=7, drop_rate=1)  # every write lands, and its answer is lost
    match = match_post(match_id=match.pk)
    _faults(tenant, drop_rate=0)

    assert match.posting_status == PostingStatus.POSTED
    [payment] = _xero_payments(tenant, match)
    assert AllocationPosting.objects.get(allocation__match=match).remote_id == str(payment.payment_id)

    # Outages: every call fails, then half fail and half the answers are lost.
    match = _split(connection, _receipt("260.00"), fiona, {"INV-0301": "120.00", "INV-0302": "80.00", "INV-0303": "60.00"})
    _faults(tenant, seed=3, error_rate=1, error_status=503)
    match = match_post(match_id=match.pk)
    assert match.posting_status == PostingStatus.FAILED
    failed = AllocationPosting.objects.filter(allocation__match=match)
    assert all(p.status == AllocationPostingStatus.FAILED and p.last_error and p.next_attempt_at for p in failed)
    assert AuditEvent.objects.filter(action="match.post_failed").count() == 3
    assert _xero_payments(tenant, match).count() == 0
    # "Post now" tries again at once, whatever the schedule says.
    match_post(match_id=match.pk, force=True)
    assert set(AllocationPosting.objects.filter(allocation__match=match).values_list("attempts", flat=True)) == {2}

    # Now the sandbox fails half the calls and drops half the answers: the sweep keeps retrying.
    _faults(tenant, seed=11, error_rate=0.4, error_status=503, drop_rate=0.5)
    for _ in range(12):
        AllocationPosting.objects.filter(allocation__match=match).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        postings_retry_due()
        match.refresh_from_db()
        if match.posting_status == PostingStatus.POSTED:
            break
    _faults(tenant, error_rate=0, drop_rate=0)

    assert match.posting_status == PostingStatus.POSTED, list(
        AllocationPosting.objects.filter(allocation__match=match).values_list("status", "attempts", "last_error"))
    payments = _xero_payments(tenant, match)
    by_invoice = sorted((p.invoice.invoice_number, p.amount) for p in payments)
    assert by_invoice == [("INV-0301", Decimal("120.00")), ("INV-0302", Decimal("80.00")), ("INV-0303", Decimal("60.00"))]
    assert max(p.attempts for p in AllocationPosting.objects.filter(allocation__match=match)) > 1


def test_a_xero_receipt_settling_a_tims_invoice_marks_it_paid_undo_reopens_it_and_part_payments_wait(xero, fiona):
    from sandbox.models import TimsReceivableInvoice

    connection, tenant, books = xero
    tims, site = tims_connection("acme", seed=1)
    documents_pull(connection=tims)
    invoice = TimsReceivableInvoice.objects.filter(site=site, status="open").order_by("invoice_number").first()
    document = LedgerDocument.objects.get(connection=tims, kind=DocumentKind.INVOICE, external_id=invoice.id)
    bank_line = LedgerDocument.objects.get(connection=connection, kind=DocumentKind.BANK_LINE)
    bank_line.amount = document.amount_due
    bank_line.currency = document.currency
    bank_line.save()

    match = match_split(payment=bank_line, lines=[SplitLine(document=document, amount=document.amount_due)], user=fiona,
                        post=False)
    match = match_post(match_id=match.pk)
    assert match.posting_status == PostingStatus.POSTED
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.external_settlement["reason"].startswith("Paid in Xero")
    assert AllocationPosting.objects.get(allocation__match=match).kind == PostingKind.TIMS_MARK_PAID

    match_undo(match=match, user=fiona)
    invoice.refresh_from_db()
    assert invoice.status == "open"

    # A part payment cannot mark a TIMS invoice paid: it fails with the reason.
    document = LedgerDocument.objects.filter(connection=tims, kind=DocumentKind.INVOICE, status="open").first()
    payment = make_document(connection, DocumentKind.PAYMENT, amount="1.00", currency=document.currency)
    match = match_split(payment=payment, lines=[SplitLine(document=document, amount=Decimal("1.00"))], user=fiona, post=False)
    match = match_post(match_id=match.pk)
    assert match.posting_status == PostingStatus.FAILED
    assert "only in full" in AllocationPosting.objects.get(allocation__match=match).last_error


class FakeXero:
    """Records what the poster asks of Xero: enough to see what is sent, and when."""

    def __init__(self, existing=()):
        self.existing = list(existing)
        self.created = []

    def list_payments(self, *, where=""):
        return list(self.existing)

    def accounts(self):
        from connectors.canonical import Account

        return [Account(code="090", name="Bank", type="BANK", remote_id="acc-1", status="ACTIVE")]

    def create_payments(self, batch, *, idempotency_key=None):
        from connectors.base import ElementResult

        self.created.append(idempotency_key)
        return [ElementResult(source_ref=key, ok=True, remote_id=f"pay-{len(self.created)}") for key in batch]


@pytest.mark.django_db
def test_a_claimed_posting_is_left_to_its_worker_and_an_expired_claim_is_looked_up_first(monkeypatch, fiona):
    from connectors.canonical import Payment

    xero = make_connection()
    invoice = make_document(xero, amount="100.00", number="INV-9")
    match = match_split(payment=_receipt("100.00"), lines=[SplitLine(document=invoice, amount=Decimal("100"))], user=fiona,
                        post=False)
    fake = FakeXero()
    monkeypatch.setattr("reconciliation.services.posting.connector_for", lambda connection, **options: fake)

    match_post(match_id=match.pk)
    posting = AllocationPosting.objects.get(allocation__match=match)
    assert posting.status == AllocationPostingStatus.POSTED and fake.created == [posting.idempotency_key]

    # Back to in flight, claimed by another worker: a "post now" sends nothing.
    AllocationPosting.objects.filter(pk=posting.pk).update(status=AllocationPostingStatus.PENDING,
                                                           claimed_until=timezone.now() + timedelta(minutes=1))
    match_post(match_id=match.pk, force=True)
    assert len(fake.created) == 1

    # Its worker died after sending: once the claim runs out, the payment is found, not sent again.
    AllocationPosting.objects.filter(pk=posting.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    fake.existing = [Payment(amount=Decimal("100"), date=date(2026, 11, 14), remote_id="pay-1",
                             invoice_id=invoice.external_id, reference=f"{posting.idempotency_key} BACS PENNINE 0812")]
    assert postings_retry_due() == 1
    posting.refresh_from_db()
    assert posting.status == AllocationPostingStatus.POSTED and posting.remote_id == "pay-1" and len(fake.created) == 1

    # A bank line of the same Xero books holds the cash already: nothing is sent for it.
    bank_line = make_document(xero, DocumentKind.BANK_LINE, amount="40.00", reference="BACS 40")
    other = make_document(xero, amount="40.00", number="INV-10")
    kept = match_split(payment=bank_line, lines=[SplitLine(document=other, amount=Decimal("40"))], user=fiona, post=False)
    assert match_post(match_id=kept.pk).posting_status == PostingStatus.POSTED
    assert AllocationPosting.objects.get(allocation__match=kept).kind == PostingKind.NOTHING and len(fake.created) == 1
