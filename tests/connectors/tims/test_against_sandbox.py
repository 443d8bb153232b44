"""Every TIMS connector operation against the TIMS sandbox (sandbox/tims), served by
pytest-django's live_server: real HTTP, a real token endpoint, the emulator's own validation,
cursors, idempotency, limits and faults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from connectors.base import (
    ConnectionSettings,
    ErrorClass,
    InMemoryTokenStore,
    MemoryCallRecorder,
    NotFound,
    ReauthorizationRequired,
    UnknownOutcome,
    registry,
)
from connectors.canonical import (
    Address,
    Customer,
    Dimension,
    DimensionValue,
    GLAccount,
    GLEntry,
    InventoryAdjustment,
    InventoryLevel,
    PaymentAllocation,
    PaymentTerms,
    Product,
    PurchaseOrder,
    ReceivableInvoice,
    ReceivablePayment,
    SalesOrder,
    TaxCode,
    Vendor,
    VendorBill,
)
from connectors.rate import InProcessRateBudget
from connectors.tims import TIMS_RATE_LIMITS, TimsClient, connect

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Sandbox:
    url: str
    site: object
    api_client: object
    settings: ConnectionSettings
    recorder: MemoryCallRecorder

    def client(self, store: InMemoryTokenStore | None = None, **kwargs) -> TimsClient:
        return connect(self.settings, token_store=store or InMemoryTokenStore(), recorder=self.recorder, **kwargs)


@pytest.fixture
def sandbox(live_server, settings) -> Sandbox:
    from django.db import transaction

    from sandbox.models import TimsProduct
    from sandbox.tims.records import user_actor
    from sandbox.tims.services import tims_activity_run, tims_client_create, tims_demo_seed, tims_site_create
    from sandbox.tims.stock import adjustment_create

    settings.SANDBOX_BASE_URL = f"{live_server.url}/sandbox"
    site = tims_site_create(code="conn-tests", name="Connector Tests Gases Ltd")
    tims_demo_seed(site=site, seed=1)
    tims_activity_run(site=site, seed=1, ticks=12)  # a living ERP: payments, journals, adjustments
    product = TimsProduct.objects.filter(site=site, tracked=True).order_by("sku").first()
    with transaction.atomic():  # the emulator locks stock rows, as its own activity does
        adjustment_create(product=product, warehouse=product_warehouse(product), reason="damage", actor=user_actor("stock1", "Stock"),
                          quantity_delta=Decimal("-1"), reason_note="Valve damage")
    api_client = tims_client_create(site=site, name="Ledgerbridge connector tests")
    connection = ConnectionSettings(
        system="tims",
        base_url=settings.SANDBOX_BASE_URL,  # what integrations gives a sandbox connection
        tenant_id=site.code,
        credentials={"client_id": api_client.client_id, "client_secret": api_client.client_secret},
    )
    return Sandbox(live_server.url, site, api_client, connection, MemoryCallRecorder())


@pytest.fixture
def client(sandbox):
    tims = sandbox.client(page_size=7)  # small pages: every walk crosses page boundaries
    yield tims
    tims.close()


def product_warehouse(product) -> str:
    from sandbox.models import TimsStockLevel

    return TimsStockLevel.objects.filter(product=product, on_hand__gt=0).order_by("warehouse").first().warehouse


def new_customer(xero_id: str, name: str = "Harrogate Welding Ltd") -> Customer:
    return Customer(
        name=name, currency="GBP", email="ap@harrogatewelding.example", payment_terms=PaymentTerms("net", 30),
        credit_limit=Decimal("7500.00"), billing_address=Address(lines=["2 Forge Row"], city="Harrogate", postal_code="HG1 1AA", country="GB"),
        external_refs={"xero": xero_id},
    )


# --- Connection ----------------------------------------------------------------------------------


def test_check_gets_a_token_over_http_and_reads(sandbox):
    store = InMemoryTokenStore()
    client = registry.get("tims")(sandbox.settings, token_store=store)
    report = client.check()
    assert report["base_url"] == f"{sandbox.url}/sandbox/tims/conn-tests" and report["records_visible"]
    assert "customers:write" in report["scopes"]
    assert store.load().access_token.startswith("tims_at_")


def test_one_token_serves_every_call(sandbox, client):
    for entity in ("customer", "vendor", "product"):
        assert list(client.list_records(entity))
    token_calls = [c for c in sandbox.recorder.calls if c.path.endswith("/oauth/token")]
    assert len(token_calls) == 1
    assert all(c.status_code == 200 for c in sandbox.recorder.calls)


def test_wrong_secret_needs_a_person(sandbox):
    wrong = ConnectionSettings(system="tims", base_url=sandbox.settings.base_url, tenant_id=sandbox.site.code,
                               credentials={"client_id": sandbox.api_client.client_id, "client_secret": "nope"})
    with pytest.raises(ReauthorizationRequired, match="invalid_client"):
        connect(wrong, token_store=InMemoryTokenStore(), sleep=lambda s: None).check()


# --- Reads -----------------------------------------------------------------------------------------

TYPES = {
    "customer": Customer, "vendor": Vendor, "product": Product, "sales_order": SalesOrder, "purchase_order": PurchaseOrder,
    "vendor_bill": VendorBill, "receivable_invoice": ReceivableInvoice, "payment": ReceivablePayment,
    "inventory_adjustment": InventoryAdjustment, "inventory_level": InventoryLevel, "gl_entry": GLEntry,
    "gl_account": GLAccount, "tax_code": TaxCode, "dimension": Dimension, "dimension_value": DimensionValue,
}


@pytest.mark.parametrize("entity", sorted(TYPES))
def test_every_readable_resource_walks_all_pages_and_gets_by_id(client, entity):
    records = list(client.list_records(entity))
    assert records and all(isinstance(r, TYPES[entity]) for r in records)
    stamps = [r.updated_at for r in records]
    assert stamps == sorted(stamps) and all(s.tzinfo is not None for s in stamps)
    record = records[-1]
    if entity == "inventory_level":
        assert client.get_record(entity, record.sku).on_hand == record.on_hand
        return
    assert len({r.state_key for r in records}) == len(records)
    key = f"{record.dimension_id}/{record.remote_id}" if entity == "dimension_value" else record.remote_id
    assert client.get_records(entity, [key]) == [record]


def test_documents_from_the_emulator_add_up(client):
    for order in client.list_sales_orders(statuses=["shipped", "completed"]):
        assert order.status in ("shipped", "completed") and order.invoice_ids
        assert sum((line.line_total for line in order.lines), Decimal(0)) == order.subtotal
        assert order.subtotal + order.tax_total == order.total
    for entry in client.list_gl_entries():
        assert entry.is_balanced
    po = next(client.list_purchase_orders())
    assert all(b.purchase_order_id == po.remote_id for b in client.list_purchase_order_bills(po.remote_id))
    dimension = next(client.list_dimensions())
    assert all(v.dimension_id == dimension.remote_id for v in client.list_dimension_values(dimension.remote_id))
    # A value by its own id alone (as a record link keeps it) is found under its dimension.
    value = list(client.list_dimension_values(dimension.remote_id))[-1]
    assert client.get_records("dimension_value", [value.remote_id]) == [value]
    assert client.get_records("dimension_value", ["dv_unknown"]) == []


def test_incremental_walk_resumes_inclusively_and_drops_what_the_caller_holds(client):
    everything = list(client.list_customers())
    mark = everything[-1].updated_at
    again = list(client.list_customers(modified_since=mark))
    assert everything[-1].remote_id in [c.remote_id for c in again]  # inclusive boundary
    held = {c.remote_id: c.version for c in everything}
    assert list(client.list_records("customer", modified_since=mark, known_versions=held)) == []
    back = list(client.list_records("customer", modified_since=mark, lookback=timedelta(days=3650)))
    assert len(back) == len(everything)


def test_records_changing_while_the_connector_pages_are_never_lost(sandbox, client):
    from sandbox.models import TimsCustomer
    from sandbox.tims.masterdata import customer_update
    from sandbox.tims.records import user_actor

    ids = [c.remote_id for c in client.list_customers()]
    walk = client.list_customers()
    first_page = [next(walk) for _ in range(7)]
    clerk = user_actor("clerk", "Clerk")
    customer_update(customer=TimsCustomer.objects.get(pk=first_page[0].remote_id), body={"phone": "+44 113 1"}, actor=clerk)
    not_yet = ids[-1]
    customer_update(customer=TimsCustomer.objects.get(pk=not_yet), body={"phone": "+44 113 2"}, actor=clerk)
    seen = [(c.remote_id, c.version) for c in first_page + list(walk)]
    assert {rid for rid, _ in seen} == set(ids)  # nothing lost
    assert len(seen) == len(set(seen)) == len(ids) + 1  # the re-read one comes back once, newer
    versions = [v for rid, v in seen if rid == first_page[0].remote_id]
    assert versions == sorted(versions) and len(versions) == 2


def test_find_by_natural_key_and_unknown_ids(client):
    product = next(client.list_products())
    assert [p.remote_id for p in client.find_records("product", [product.sku], field="sku")] == [product.remote_id]
    with pytest.raises(NotFound):
        client.get_record("customer", "cus_does_not_exist")


# --- Writes ----------------------------------------------------------------------------------------


def test_customers_create_replay_update_conflict_and_duplicate(client):
    [created] = client.create_customers({"xero-c-1": new_customer("xero-c-1")}, idempotency_key="lb:conn_1:contacts")
    assert created.ok and created.record.code and created.record.version == 1
    [replayed] = client.create_customers({"xero-c-1": new_customer("xero-c-1")}, idempotency_key="lb:conn_1:contacts")
    assert replayed.ok and replayed.remote_id == created.remote_id and replayed.warnings
    changed = new_customer("xero-c-1")
    changed.phone = "+44 1423 000000"
    [duplicate] = client.create_customers({"xero-c-1": changed})
    assert not duplicate.ok and duplicate.error_class is ErrorClass.DUPLICATE and duplicate.remote_id == created.remote_id
    customer = created.record
    customer.email = "accounts@harrogatewelding.example"
    [updated] = client.update_customers({"u": customer})
    assert updated.ok and updated.record.version == 2 and updated.record.email == "accounts@harrogatewelding.example"
    customer.name = "Stale Name Ltd"  # still at version 1
    [stale] = client.update_customers({"u": customer})
    assert not stale.ok and stale.error_class is ErrorClass.CONFLICT
    assert client.find_by_external_ref("customer", "xero-c-1").remote_id == created.remote_id


def test_a_refused_customer_reports_the_field(client):
    [refused] = client.create_customers({"bad": Customer(name="No Currency Ltd", external_refs={"xero": "xero-bad"})})
    assert not refused.ok and refused.error_class is ErrorClass.VALIDATION
    assert any("currency" in e for e in refused.errors)


def test_vendors_and_products(client):
    [vendor] = client.create_vendors({"v": Vendor(name="Northern Argon plc", currency="GBP", external_refs={"xero": "xero-v-1"})})
    assert vendor.ok and vendor.record.code
    vendor.record.email = "sales@northernargon.example"
    assert client.update_vendors({"v": vendor.record})[0].ok
    product = Product(sku="AR-20-CYL", name="Argon, size 20", unit="CYL", currency="GBP", sale_price=Decimal("38.125000"),
                      external_refs={"xero": "xero-i-1"})
    [created] = client.create_products({"p": product})
    assert created.ok and created.record.sale_price == Decimal("38.125")
    created.record.sale_price = Decimal("39.5")
    [updated] = client.update_products({"p": created.record}, fields=["sale_price"])
    assert updated.ok and updated.record.sale_price == Decimal("39.5") and updated.record.name == "Argon, size 20"
    [again] = client.create_products({"p2": Product(sku="AR-20-CYL", name="Again", unit="CYL", currency="GBP")})
    assert not again.ok and again.error_class is ErrorClass.DUPLICATE and again.remote_id == created.remote_id


def test_payments_invoice_status_and_external_refs(client):
    invoices = [i for i in client.list_receivable_invoices(statuses=["open"]) if i.currency == "GBP"]
    first, second, third = invoices[:3]
    payment = ReceivablePayment(
        customer_id=first.customer_id, payment_date=date(2026, 11, 24), amount=first.amount_due, currency="GBP",
        method="bank_transfer", reference="BACS 2411", allocations=[PaymentAllocation(first.remote_id, first.amount_due)],
        external_refs={"xero": "xero-p-1"},
    )
    [paid] = client.create_payments({"xero-p-1": payment})
    assert paid.ok and client.get_record("receivable_invoice", first.remote_id).status == "paid"
    assert paid.remote_id in [p.remote_id for p in client.list_invoice_payments(first.remote_id)]
    too_much = ReceivablePayment(customer_id="", payment_date=date(2026, 11, 24), amount=second.amount_due + Decimal("0.01"),
                                 currency="GBP", method="card")
    refused = client.create_invoice_payment(second.remote_id, too_much)
    assert not refused.ok and refused.error_class is ErrorClass.VALIDATION
    part = ReceivablePayment(customer_id="", payment_date=date(2026, 11, 24), amount=Decimal("1.00"), currency="GBP", method="card",
                             external_refs={"xero": "xero-p-2"})
    recorded = client.create_invoice_payment(second.remote_id, part)
    assert recorded.ok and client.get_record("receivable_invoice", second.remote_id).status == "partially_paid"
    voided = client.void_payment(recorded.remote_id, "Payment deleted in Xero")
    assert voided.ok and voided.record.status == "void"
    marked = client.mark_invoice_paid(third.remote_id, "Paid in Xero", settled_on=date(2026, 11, 24), version=third.version)
    assert marked.ok and marked.record.external_settlement.amount == third.amount_due
    reopened = client.reopen_invoice(third.remote_id, "Xero payment deleted", version=marked.record.version)
    assert reopened.ok and reopened.record.status == "open"
    order = client.get_record("sales_order", first.sales_order_id)
    refs = client.set_external_refs("sales_order", order.remote_id, {"xero": "xero-inv-1"})
    assert refs.ok and refs.record.version == order.version  # no echo into the next incremental read
    assert client.find_by_external_ref("sales_order", "xero-inv-1").remote_id == order.remote_id
    assert client.set_external_refs("receivable_invoice", first.remote_id, {"xero": "xero-inv-1"}).ok
    value = next(client.list_records("dimension_value"))
    assert client.set_external_refs("dimension_value", f"{value.dimension_id}/{value.remote_id}", {"xero": "opt-1"}).ok


def test_a_dropped_answer_is_settled_by_external_ref_not_created_twice(sandbox, client):
    from sandbox.common.faults import fault_setting_update
    from sandbox.models import TimsCustomer

    before = TimsCustomer.objects.count()
    fault_setting_update(system="tims", tenant_key=sandbox.site.code, drop_rate=1, seed=3)
    batch = {"xero-lost": new_customer("xero-lost", name="Lost Answer Ltd")}
    with pytest.raises(UnknownOutcome):
        client.create_customers(batch)
    fault_setting_update(system="tims", tenant_key=sandbox.site.code, drop_rate=0)
    [settled] = client.settle_records("customer", batch)
    assert settled.ok and settled.remote_id and settled.record.name == "Lost Answer Ltd"
    assert TimsCustomer.objects.count() == before + 1
    [absent] = client.settle_records("customer", {"never": new_customer("xero-never-sent")})
    assert not absent.ok and absent.error_class is ErrorClass.NOT_FOUND


def test_the_sites_real_limit_is_waited_out_without_a_failure(sandbox):
    """The site allows 4 calls per 2-second window: with a budget the RateLimit-* headers keep
    the calls under the limit; without one the 429s are paced by Retry-After."""
    from sandbox.tims.services import tims_client_set_limits

    tims_client_set_limits(client=sandbox.api_client, minute=4, window_seconds=2, concurrent=None)
    paced_recorder = MemoryCallRecorder()
    budget = InProcessRateBudget(TIMS_RATE_LIMITS)
    paced = connect(sandbox.settings, token_store=InMemoryTokenStore(), recorder=paced_recorder, budget=budget)
    started = datetime.now(timezone.utc)
    for _ in range(10):
        assert list(paced.list_records("tax_code"))
    assert [c.status_code for c in paced_recorder.calls if c.status_code == 429] == []
    assert datetime.now(timezone.utc) - started >= timedelta(seconds=2)  # it did wait for resets
    plain = sandbox.client()  # no budget: the site's 429s are waited out by Retry-After
    for _ in range(10):
        assert plain.get_records("customer", [next(plain.list_records("tax_code")).remote_id]) == []
    limited = [c for c in sandbox.recorder.calls if c.status_code == 429]
    assert limited and all(c.error_class == "rate_limited" for c in limited)
