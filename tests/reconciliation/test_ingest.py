"""Pulling ledger documents from the Xero and TIMS sandboxes: every kind, exact amounts with
their currency, contacts resolved across systems through the record links, upserts,
incremental reads, the command and the hand-over to the matcher."""

from __future__ import annotations

import sys
import time
import types
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command

from integrations.models import LinkState, RecordLink
from integrations.services.connectors import connector_for
from reconciliation.models import DocumentCursor, DocumentKind, LedgerDocument
from reconciliation.services import ingest
from reconciliation.services.ingest import documents_pull, reconciliation_pull
from tests.reconciliation.sandbox_books import xero_books, xero_invoice
from tests.sandboxes import tims_connection, xero_connection

pytest.importorskip("sandbox.tims.services", reason="the sandbox app is off (SANDBOX_ENABLED=false)")
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def xero(settings, live_server):
    settings.SANDBOX_BASE_URL = f"{live_server.url}/sandbox"
    connection, _ = xero_connection("Pennine Gases Ltd")
    return connection


@pytest.fixture
def tims(settings, live_server):
    settings.SANDBOX_BASE_URL = f"{live_server.url}/sandbox"
    return tims_connection("acme", seed=1)


def test_xero_documents_arrive_with_amounts_currency_and_contact_incrementally_and_go_to_the_matcher(
        xero, monkeypatch, capsys):
    monkeypatch.setattr(ingest, "LOOKBACK", timedelta(0))
    handed = []
    matcher = types.ModuleType("reconciliation.services.matching")
    matcher.match_payments = lambda *, connection=None, payments=None, full=False: handed.append(
        (connection.pk, sorted(p.kind for p in payments)))
    monkeypatch.setitem(sys.modules, "reconciliation.services.matching", matcher)
    books = xero_books(xero)
    client = connector_for(xero)
    time.sleep(1.1)  # If-Modified-Since has a one-second resolution: the cursor's second is read again
    client.create_invoices({"INV-0398": xero_invoice("INV-0398", books.contact_id, "10.00")})

    call_command("reconcile_pull", "--connection", str(xero.pk))
    assert "read 6, new 6, updated 0, unreadable 0" in capsys.readouterr().out
    # The new payment and bank line go to the matcher.
    assert handed == [(xero.pk, [DocumentKind.BANK_LINE, DocumentKind.PAYMENT])]

    documents = LedgerDocument.objects.filter(connection=xero)
    invoices = {d.number: d for d in documents.filter(kind=DocumentKind.INVOICE)}
    assert set(invoices) == {*books.invoices, "INV-0398"}
    first = invoices["INV-0301"]
    assert (first.amount, first.amount_due, first.currency) == (Decimal("300.0000"), Decimal("300.0000"), "GBP")
    assert first.contact_name == "Pennine Pipework PLC" and first.external_id == books.invoices["INV-0301"]
    assert first.contact_key.endswith(books.contact_id) and first.status == "AUTHORISED"
    assert invoices["INV-0303"].amount_due == Decimal("60.0000")  # the 40.00 payment applied

    payment = documents.get(kind=DocumentKind.PAYMENT)
    assert payment.external_id == books.payment_id and payment.amount == Decimal("40.0000")
    # A Xero payment names its invoice only: contact and currency come from it.
    assert payment.currency == "GBP" and payment.contact_key == first.contact_key
    assert payment.raw["invoice_id"] == books.invoices["INV-0303"] and payment.reference == "CHQ 1001"

    bank = documents.get(kind=DocumentKind.BANK_LINE)
    assert (bank.amount, bank.reference, bank.direction) == (Decimal("500.0000"), "BACS PENNINE 77", "receivable")
    assert bank.contact_key == first.contact_key
    cursors = DocumentCursor.objects.filter(connection=xero, high_water__isnull=False)
    assert set(cursors.values_list("entity", flat=True)) == {"invoice", "payment", "bank_transaction"}  # no credit notes

    # Incremental: only the boundary second and what changed since are read; upserts, not copies.
    time.sleep(1.1)
    client.create_invoices({"INV-0399": xero_invoice("INV-0399", books.contact_id, "75.50")})
    [second] = reconciliation_pull(connection_id=xero.pk)
    assert second.created == 1 and second.read < 6
    assert LedgerDocument.objects.get(connection=xero, number="INV-0399").amount == Decimal("75.5000")
    assert len(handed) == 1  # no new payment: nothing to match

    full = documents_pull(connection=xero, full=True)
    assert full.read == 7 and full.created == 0 and documents.count() == 7


def test_tims_ar_invoices_and_payments_share_the_contact_key_of_the_linked_xero_contact(xero, tims):
    from sandbox.models import TimsPayment, TimsReceivableInvoice

    connection, site = tims
    books = xero_books(xero)
    paid = TimsPayment.objects.filter(site=site).select_related("customer").first()
    RecordLink.objects.create(
        source_connection=connection, source_type="customer", source_id=paid.customer_id,
        target_connection=xero, target_type="contact", target_id=books.contact_id, state=LinkState.LINKED,
    )
    documents_pull(connection=xero)
    documents_pull(connection=connection)

    tims_documents = LedgerDocument.objects.filter(connection=connection)
    sandbox_invoices = TimsReceivableInvoice.objects.filter(site=site)
    assert tims_documents.filter(kind=DocumentKind.INVOICE).count() == sandbox_invoices.count() > 0
    assert tims_documents.filter(kind=DocumentKind.PAYMENT).count() == TimsPayment.objects.filter(site=site).count()

    invoice = sandbox_invoices.first()
    document = tims_documents.get(kind=DocumentKind.INVOICE, external_id=invoice.id)
    assert document.number == invoice.invoice_number and document.currency == invoice.currency
    assert document.amount == invoice.total and document.amount_due == invoice.amount_due

    receipt = tims_documents.get(kind=DocumentKind.PAYMENT, external_id=paid.id)
    assert receipt.amount == paid.amount and receipt.currency == paid.currency and receipt.number == paid.payment_number
    xero_key = LedgerDocument.objects.filter(connection=xero, kind=DocumentKind.INVOICE).first().contact_key
    # The same contact on both sides: the TIMS customer and the Xero contact linked to it.
    assert receipt.contact_key == xero_key
    assert set(tims_documents.filter(contact_key=xero_key).values_list("raw__customer_id", flat=True)) == {paid.customer_id}
    unlinked = tims_documents.exclude(raw__customer_id=paid.customer_id).first()
    assert unlinked is None or unlinked.contact_key != xero_key
