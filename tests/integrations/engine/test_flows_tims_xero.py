"""The Xero ↔ TIMS flows end to end, with the default mapping templates, against both sandboxes."""

from __future__ import annotations

import pytest
from django.db import transaction

from integrations.engine.pipeline import run_execute
from integrations.mapping_templates import templates_install
from integrations.models import Flow, MappingSet, RecordLink, SyncException
from integrations.services.runs import flow_run_request, run_claim
from tests.sandboxes import tims_connection, xero_connection

pytest.importorskip("sandbox.tims.services", reason="the sandbox app is off (SANDBOX_ENABLED=false)")
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def systems(settings, live_server):
    settings.SANDBOX_BASE_URL = f"{live_server.url}/sandbox"
    templates_install()
    tims, site = tims_connection("acme", seed=1)
    xero, tenant = xero_connection("Acme Gases Ltd")
    return tims, site, xero, tenant


def _flow(tims, xero, template: str, slug: str, reverse: bool = False) -> Flow:
    mapping = MappingSet.objects.get(name=template)
    source, target = (xero, tims) if reverse else (tims, xero)
    return Flow.objects.create(slug=slug, name=template, source_connection=source, source_entity=mapping.source_entity,
                               target_connection=target, target_entity=mapping.target_entity, mapping_set=mapping,
                               batch_size=50, enabled=True)


def _run(flow, full=False):
    run = flow_run_request(flow=flow, trigger="manual", full=full, enqueue=False)
    return run_execute(run_claim(run_id=run.pk))


def test_customers_products_and_shipped_orders_reach_xero_once(systems):
    from sandbox.models import TimsCustomer, TimsSalesOrder, XeroContact, XeroInvoice, XeroItem

    tims, site, xero, tenant = systems
    customers = _run(_flow(tims, xero, "TIMS customers → Xero contacts", "customers"))
    assert customers.status == "succeeded" and customers.created_count == TimsCustomer.objects.filter(site=site).count()
    assert set(XeroContact.objects.filter(tenant=tenant).values_list("contact_number", flat=True)) == set(
        TimsCustomer.objects.filter(site=site).values_list("customer_code", flat=True))

    products = _run(_flow(tims, xero, "TIMS products → Xero items", "products"))
    assert products.created_count == XeroItem.objects.filter(tenant=tenant).count() > 0

    orders_flow = _flow(tims, xero, "TIMS sales orders → Xero invoices", "orders")
    orders = _run(orders_flow)
    invoiceable = TimsSalesOrder.objects.filter(site=site, status__in=["shipped", "completed"])
    invoices = XeroInvoice.objects.filter(tenant=tenant, type="ACCREC")
    assert orders.read_count == TimsSalesOrder.objects.filter(site=site).count()
    assert orders.created_count + orders.failed_count == invoiceable.count()
    assert invoices.count() == orders.created_count
    assert set(invoices.values_list("invoice_number", flat=True)) <= set(invoiceable.values_list("order_number", flat=True))
    # Every invoice points at the contact the customers flow created, not a new one by name.
    assert XeroContact.objects.filter(tenant=tenant).count() == customers.created_count
    for exception in SyncException.objects.filter(flow=orders_flow):
        assert exception.message and exception.stage in ("transform", "validate")

    again = _run(orders_flow, full=True)
    assert again.created_count == 0 and again.unchanged_count == orders.created_count
    assert invoices.count() == orders.created_count
    assert RecordLink.objects.filter(source_type="sales_order", state="linked").count() == orders.created_count


def test_an_order_that_cannot_be_read_waits_in_the_queue_with_its_json_and_the_rest_go_on(systems, settings, monkeypatch):
    """The run lists orders undecoded and decodes each batch where it is worked: one that fails
    to decode is an extract exception with TIMS's JSON, as a listing's Undecodable was."""
    from dataclasses import replace

    from connectors.base import MappingFailed
    from connectors.tims import client as tims_client
    from sandbox.models import TimsSalesOrder, XeroInvoice

    tims, site, xero, tenant = systems
    settings.FLOW_LANE_PROCESSES = "off"  # the decoder below lives in this process only
    _run(_flow(tims, xero, "TIMS customers → Xero contacts", "customers"))
    _run(_flow(tims, xero, "TIMS products → Xero items", "products"))
    shipped = TimsSalesOrder.objects.filter(site=site, status__in=["shipped", "completed"]).order_by("updated_at", "id")
    broken = shipped.first().order_number
    resource = tims_client.RESOURCES["sales_order"]

    def decode(raw):
        if raw["order_number"] == broken:
            raise MappingFailed("total is not a decimal string")
        return resource.decode(raw)

    monkeypatch.setitem(tims_client.RESOURCES, "sales_order", replace(resource, decode=decode))
    orders_flow = _flow(tims, xero, "TIMS sales orders → Xero invoices", "orders")
    orders = _run(orders_flow)
    exception = SyncException.objects.get(flow=orders_flow, code="extract.undecodable")
    assert exception.stage == "extract" and "total is not a decimal string" in exception.message
    assert exception.source_payload["order_number"] == broken
    invoices = XeroInvoice.objects.filter(tenant=tenant, type="ACCREC")
    assert orders.read_count == TimsSalesOrder.objects.filter(site=site).count()
    assert invoices.count() == orders.created_count > 0 and not invoices.filter(invoice_number=broken).exists()


def test_a_cancelled_order_voids_its_invoice_and_an_unmapped_category_waits_for_a_person(systems):
    from sandbox.models import TimsSalesOrder, XeroInvoice
    from sandbox.tims.sales import sales_order_cancel

    tims, site, xero, tenant = systems
    _run(_flow(tims, xero, "TIMS customers → Xero contacts", "customers"))
    _run(_flow(tims, xero, "TIMS products → Xero items", "products"))
    orders_flow = _flow(tims, xero, "TIMS sales orders → Xero invoices", "orders")
    first = _run(orders_flow)
    assert first.created_count > 0

    unmapped = SyncException.objects.filter(flow=orders_flow, code="mapping.value_map.missing")
    assert unmapped.exists() and all("GAS-MED" in e.message for e in unmapped)

    from decimal import Decimal

    from sandbox.models import TimsCustomer, TimsProduct
    from sandbox.tims.sales import LineInput, sales_order_allocate, sales_order_create, sales_order_ship

    actor = {"type": "user", "id": "test"}
    product = TimsProduct.objects.get(site=site, sku="HELMET-AD")
    with transaction.atomic():  # as the TIMS API does around its services (row locks)
        invoiced = sales_order_create(customer=TimsCustomer.objects.filter(site=site).first(), actor=actor, lines=[
            LineInput(description=product.name, quantity=Decimal(2), unit_price=Decimal("119.00"), product=product, tax_code="S20")])
        sales_order_allocate(invoiced, actor=actor)
        sales_order_ship(invoiced, actor=actor)
    shipped = _run(orders_flow)
    assert shipped.created_count == 1
    assert XeroInvoice.objects.get(tenant=tenant, invoice_number=invoiced.order_number).status == "AUTHORISED"
    with transaction.atomic():
        sales_order_cancel(TimsSalesOrder.objects.get(pk=invoiced.pk), actor=actor, reason="Customer changed their mind")
    second = _run(orders_flow)
    invoice = XeroInvoice.objects.get(tenant=tenant, invoice_number=invoiced.order_number)
    assert invoice.status == "VOIDED"
    assert second.updated_count >= 1


def test_payments_in_tims_become_xero_payments_on_the_right_invoice(systems):
    from sandbox.models import TimsPayment, XeroPayment

    tims, site, xero, tenant = systems
    _run(_flow(tims, xero, "TIMS customers → Xero contacts", "customers"))
    _run(_flow(tims, xero, "TIMS products → Xero items", "products"))
    _run(_flow(tims, xero, "TIMS sales orders → Xero invoices", "orders"))
    payments = _run(_flow(tims, xero, "TIMS AR payments → Xero payments", "payments"))
    created = XeroPayment.objects.filter(invoice__tenant=tenant)
    assert payments.read_count == TimsPayment.objects.filter(site=site).count()
    assert created.count() == payments.created_count
    for payment in created:
        assert payment.invoice.invoice_number and payment.amount > 0
    # A payment whose invoice never reached Xero waits in the queue with Xero's own words.
    for exception in SyncException.objects.filter(flow__slug="payments"):
        assert exception.message


def test_payments_made_in_xero_reach_tims_and_ours_never_come_back(systems):
    """Both payment flows on: a payment a person records in Xero pays the TIMS AR invoice; the
    payments Ledgerbridge wrote into Xero from TIMS are not sent back (no loop)."""
    from decimal import Decimal

    from sandbox.models import TimsPayment, TimsReceivableInvoice, XeroInvoice

    tims, site, xero, tenant = systems
    _run(_flow(tims, xero, "TIMS customers → Xero contacts", "customers"))
    _run(_flow(tims, xero, "TIMS products → Xero items", "products"))
    _run(_flow(tims, xero, "TIMS sales orders → Xero invoices", "orders"))
    to_xero = _run(_flow(tims, xero, "TIMS AR payments → Xero payments", "payments"))
    tims_payments_before = TimsPayment.objects.filter(site=site).count()

    # A person records a payment in Xero against an open invoice that came from TIMS.
    client_xero = __import__("integrations.services.connectors", fromlist=["connector_for"]).connector_for(xero)
    invoice = XeroInvoice.objects.filter(tenant=tenant, type="ACCREC", status="AUTHORISED", amount_paid=0).first()
    from connectors.canonical import Payment
    from datetime import date
    [result] = client_xero.create_payments({"p": Payment(amount=Decimal("10.00"), date=date(2026, 11, 20),
                                                         invoice_id=str(invoice.invoice_id), account_code="090",
                                                         reference="Bank transfer")})
    assert result.ok

    back = _run(_flow(tims, xero, "Xero payments → TIMS AR payments", "payments-back", reverse=True))
    assert back.created_count == 1
    assert back.skipped_count == to_xero.created_count  # our own payments: echoes, skipped
    new = TimsPayment.objects.filter(site=site).order_by("-created_at").first()
    assert TimsPayment.objects.filter(site=site).count() == tims_payments_before + 1
    ar_invoice = TimsReceivableInvoice.objects.get(site=site, sales_order__order_number=invoice.invoice_number)
    assert ar_invoice.amount_paid >= Decimal("10.00")
    assert new.external_refs.get("xero") == result.remote_id

    again = _run(_flow(tims, xero, "Xero payments → TIMS AR payments", "payments-back-2", reverse=True))
    assert again.created_count == 0


def test_gl_entries_and_stock_adjustments_become_balanced_manual_journals_without_double_counting(systems):
    from sandbox.models import TimsGlEntry, TimsInventoryAdjustment, XeroManualJournal
    from sandbox.tims.services import tims_activity_run

    tims, site, xero, tenant = systems
    tims_activity_run(site=site, seed=5, ticks=40)  # stock counts, shrinkage, period-end journals…
    assert TimsInventoryAdjustment.objects.filter(site=site).exists()
    journals = _run(_flow(tims, xero, "TIMS GL entries → Xero manual journals", "gl"))
    from_documents = TimsGlEntry.objects.filter(
        site=site, source__in=["sales", "purchases", "cash_receipts", "cash_disbursements", "inventory"]).count()
    assert journals.read_count == TimsGlEntry.objects.filter(site=site).count()
    assert journals.skipped_count >= from_documents
    assert journals.created_count + journals.failed_count + journals.skipped_count == journals.read_count

    stock = _run(_flow(tims, xero, "TIMS inventory adjustments → Xero manual journals", "stock"))
    assert stock.read_count == TimsInventoryAdjustment.objects.filter(site=site).count()
    assert stock.created_count + stock.skipped_count + stock.failed_count == stock.read_count
    assert stock.created_count > 0
    created = XeroManualJournal.objects.filter(tenant=tenant)
    assert created.count() == journals.created_count + stock.created_count
    for journal in created:
        assert sum(line.line_amount for line in journal.lines.all()) == 0
    for exception in SyncException.objects.filter(flow__slug__in=["gl", "stock"]):
        assert exception.message


@pytest.mark.parametrize("policy", ["field_ownership", "last_writer_wins"])
def test_customers_both_ways_without_loops_or_twins(systems, policy):
    """TIMS → Xero, then Xero → TIMS: nothing comes back until a person edits a contact in
    Xero; the edit updates the same TIMS customer, under the flow's conflict policy."""
    from django.utils import timezone
    from sandbox.models import TimsCustomer, XeroContact

    tims, site, xero, tenant = systems
    forward = _run(_flow(tims, xero, "TIMS customers → Xero contacts", "customers"))
    backward_flow = _flow(tims, xero, "Xero contacts → TIMS customers", "customers-back", reverse=True)
    backward_flow.conflict_policy = policy
    backward_flow.field_ownership = {"email": "target"} if policy == "field_ownership" else {}
    backward_flow.save()
    count = TimsCustomer.objects.filter(site=site).count()

    quiet = _run(backward_flow)
    assert quiet.skipped_count == forward.created_count and quiet.created_count == 0  # echoes only
    assert TimsCustomer.objects.filter(site=site).count() == count

    contact = XeroContact.objects.filter(tenant=tenant).order_by("name").first()
    before = TimsCustomer.objects.get(site=site, customer_code=contact.contact_number)
    contact.name, contact.email_address = f"{contact.name} (Renamed)", "accounts@changed-in-xero.test"
    contact.updated_at = edited_at = timezone.now()  # what Xero stamps on an edit
    contact.save()
    edited = _run(backward_flow)
    assert (edited.updated_count, edited.created_count) == (1, 0)
    customer = TimsCustomer.objects.get(pk=before.pk)
    assert customer.name == contact.name
    if policy == "field_ownership":
        assert customer.email == before.email  # TIMS owns the email: Xero's edit is not taken
    else:
        assert customer.email == "accounts@changed-in-xero.test"
        # An edit made after our last write into Xero (so not an echo) but before the TIMS
        # record's latest change loses: the last writer wins.
        assert customer.updated_at > edited_at
        contact.name, contact.updated_at = "An older edit", edited_at + (customer.updated_at - edited_at) / 2
        contact.save()
        stale = _run(backward_flow, full=True)
        assert stale.updated_count == 0
        from integrations.models import AuditEvent

        reasons = [e.data.get("reason", "") for e in AuditEvent.objects.filter(run=stale, action="record.skipped")]
        assert sum("last writer wins" in reason for reason in reasons) == 1
        assert TimsCustomer.objects.get(pk=before.pk).name == customer.name
    assert TimsCustomer.objects.filter(site=site).count() == count
