"""TimsClient against the respx stand-in (tests/connectors/tims/fakes.py), whose every request
and answer is validated against connectors/tims/openapi.yaml: every operation, paging while
records change, de-duplication, idempotent writes, unknown outcomes, errors by problem type."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.base import (
    ConnectionSettings,
    Connector,
    ErrorClass,
    InMemoryTokenStore,
    NotFound,
    RawRecord,
    ReauthorizationRequired,
    TransientError,
    Undecodable,
    UnknownOutcome,
    ValidationFailed,
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
from connectors.tims import TimsClient, connect
from tests.connectors.tims.conftest import SETTINGS
from tests.connectors.tims.fakes import CLIENT_SECRET, ContractViolation, FakeTims, check_against_contract, example, seed


def query_of(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.url.query.decode()).items()}


def api_requests(fake: FakeTims) -> list[httpx.Request]:
    return [r for r in fake.requests if r.url.path.startswith("/api/")]


def new_customer(xero_id: str = "6b9d0e5c-0000-4a1e-9a7c-000000000001", name: str = "Leeds Gas Ltd") -> Customer:
    return Customer(
        name=name,
        currency="GBP",
        email="accounts@leedsgas.example",
        payment_terms=PaymentTerms(kind="net", days=30),
        credit_limit=Decimal("25000.00"),
        billing_address=Address(lines=["14 Foundry Lane"], city="Leeds", postal_code="LS11 5QT", country="GB"),
        external_refs={"xero": xero_id},
    )


# --- Registry and protocol -----------------------------------------------------------------------


def test_registry_builds_a_tims_client_that_is_a_connector(fake, store):
    client = registry.get("tims")(SETTINGS, token_store=store)
    assert isinstance(client, TimsClient) and isinstance(client, Connector)
    assert client.batch_limit == 1  # v1 has no batch writes
    assert {"customer", "sales_order", "gl_entry", "dimension_value"} <= client.entities
    with pytest.raises(ValueError, match="no entity"):
        client.list_records("invoice")


def test_one_token_for_many_calls_sent_as_basic_auth_and_never_logged(client, fake, store, recorder):
    seed(fake)
    for entity in ("customer", "vendor", "product", "sales_order"):
        assert list(client.list_records(entity))
    assert fake.token_calls == 1
    token_request = next(r for r in fake.requests if r.url.path == "/oauth/token")
    form = parse_qs(token_request.content.decode())
    assert form["grant_type"] == ["client_credentials"] and "client_secret" not in form
    assert {"customers:write", "salesorders:read", "external_refs:write"} <= set(form["scope"][0].split())
    assert token_request.headers["Authorization"].startswith("Basic ")
    assert {r.headers["Authorization"] for r in api_requests(fake)} == {f"Bearer {store.load().access_token}"}
    logged = repr(recorder.calls)
    assert store.load().access_token not in logged and CLIENT_SECRET not in logged
    assert all(c.request_id.startswith("req_") for c in recorder.calls)


# --- Reads -----------------------------------------------------------------------------------------

EXPECTED_TYPES = {
    "customer": Customer, "vendor": Vendor, "product": Product, "sales_order": SalesOrder, "purchase_order": PurchaseOrder,
    "vendor_bill": VendorBill, "receivable_invoice": ReceivableInvoice, "inventory_adjustment": InventoryAdjustment,
    "inventory_level": InventoryLevel, "gl_entry": GLEntry, "gl_account": GLAccount, "tax_code": TaxCode,
    "dimension": Dimension, "dimension_value": DimensionValue,
}


@pytest.mark.parametrize("entity", sorted(EXPECTED_TYPES))
def test_every_readable_resource_lists_gets_and_decodes(client, fake, entity):
    made = seed(fake)
    records = list(client.list_records(entity))
    assert len(records) == 1 and isinstance(records[0], EXPECTED_TYPES[entity])
    record = records[0]
    if entity == "inventory_level":
        assert client.get_record(entity, "OX-300-CYL") == record
        return
    key = f"{record.dimension_id}/{record.remote_id}" if entity == "dimension_value" else record.remote_id
    missing = "dim_x/zz_missing" if entity == "dimension_value" else "zz_missing"
    assert client.get_records(entity, [key, missing]) == [record]
    assert record.updated_at.tzinfo is timezone.utc and record.version >= 1


def test_an_undecoded_listing_yields_raw_records_that_decode_as_the_listing_does(client, fake):
    import pickle

    from connectors.tims import codecs

    seed(fake)
    fake.put("salesorders", {**example("SalesOrder"), "id": "so_2", "order_number": "SO-2"})
    assert TimsClient.lists_undecoded
    decoded = list(client.list_records("sales_order"))
    raw = list(client.list_records("sales_order", undecoded=True))
    assert [type(r) for r in raw] == [RawRecord, RawRecord]
    assert [(r.remote_id, r.updated_at) for r in raw] == [(d.remote_id, d.updated_at) for d in decoded]
    # Crossing to a lane process: the raw JSON and the codec's name, decoded there.
    assert [pickle.loads(pickle.dumps(r)).decoded() for r in raw] == decoded
    # One that cannot be decoded becomes an Undecodable where it is decoded, as in a listing.
    bad = RawRecord(codecs.decode_sales_order, {**raw[1].raw, "total": 12.5}, "sales_order", "so_2", raw[1].updated_at)
    undecodable = pickle.loads(pickle.dumps(bad)).decoded()
    assert isinstance(undecodable, Undecodable) and undecodable.remote_id == "so_2" and "float" in undecodable.message


def test_sales_order_decodes_to_the_penny(client, fake):
    seed(fake)
    order = next(client.list_sales_orders(statuses=["shipped", "completed"]))
    assert order.number == "SO-58211" and order.status == "shipped"
    assert [line.line_total for line in order.lines] == [Decimal("174.60"), Decimal("13.00")]
    assert sum(line.line_total for line in order.lines) == order.subtotal == Decimal("187.60")
    assert order.lines[0].unit_price == Decimal("48.5000") and order.lines[0].dimensions[0].value_code == "LEEDS"
    assert order.shipped_at == datetime(2026, 11, 20, 14, 3, 27, 512034, tzinfo=timezone.utc)
    assert query_of(api_requests(fake)[-1])["status"] == "shipped,completed"


def test_listing_streams_page_by_page(client, fake):
    for n in range(5):
        fake.put("customers", {**example("Customer"), "id": f"cus_{n}", "customer_code": f"C{n}"})
    stream = client.list_customers()
    first = next(stream)
    assert first.remote_id == "cus_0"
    assert len(api_requests(fake)) == 1  # one page (of 2) fetched so far: nothing read ahead
    assert [c.remote_id for c in stream] == ["cus_1", "cus_2", "cus_3", "cus_4"]
    assert len(api_requests(fake)) == 3


def test_later_pages_send_the_cursor_with_the_same_filters(client, fake):
    for n in range(3):
        fake.put("customers", {**example("Customer"), "id": f"cus_{n}", "customer_code": f"C{n}"})
    since = datetime(2026, 11, 20, 14, 0, tzinfo=timezone.utc)
    assert len(list(client.list_customers(modified_since=since, status="active"))) == 3
    first, second = (query_of(r) for r in api_requests(fake))
    assert first == {"status": "active", "updated_since": "2026-11-20T14:00:00.000000Z", "limit": "2"}
    assert second == {**first, "cursor": second["cursor"]}


def test_updated_since_is_inclusive_and_the_lookback_reaches_back(client, fake):
    old = fake.put("customers", {**example("Customer"), "id": "cus_old", "customer_code": "C1"})
    edge = fake.put("customers", {**example("Customer"), "id": "cus_edge", "customer_code": "C2"})
    mark = datetime.fromisoformat(edge["updated_at"].replace("Z", "+00:00"))
    assert [c.remote_id for c in client.list_customers(modified_since=mark)] == ["cus_edge"]
    back = list(client.list_records("customer", modified_since=mark, lookback=timedelta(minutes=5)))
    assert [c.remote_id for c in back] == ["cus_old", "cus_edge"]
    assert query_of(api_requests(fake)[-1])["updated_since"] == "2026-11-20T13:55:00.002000Z"
    assert old["version"] == 1


def test_records_changing_while_paging_are_never_lost(client, fake):
    """The cursor holds the last (updated_at, id) returned: a record changed mid-walk moves
    ahead of it and comes back with its new version; nothing is skipped."""
    for n in range(6):
        fake.put("customers", {**example("Customer"), "id": f"cus_{n}", "customer_code": f"C{n}"})

    def change_under_the_walk(collection: str, page: int) -> None:
        if page == 1:  # after the first page (cus_0, cus_1) was served
            fake.touch("customers", "cus_0", name="Renamed while paging")  # already read: comes back
            fake.touch("customers", "cus_3", name="Changed before being read")  # not read yet

    fake.on_page = change_under_the_walk
    seen = [(c.remote_id, c.version) for c in client.list_customers()]
    assert {rid for rid, _ in seen} == {f"cus_{n}" for n in range(6)}  # nothing lost
    assert seen.count(("cus_0", 1)) == 1 and ("cus_0", 2) in seen  # the new state after the old
    assert ("cus_3", 2) in seen and ("cus_3", 1) not in seen
    assert len(seen) == len(set(seen))  # no state twice


def test_an_expired_cursor_restarts_from_the_newest_change_and_drops_the_repeats(client, fake):
    for n in range(5):
        fake.put("customers", {**example("Customer"), "id": f"cus_{n}", "customer_code": f"C{n}"})
    fake.put("customers", {**example("Customer"), "id": "cus_5", "customer_code": "C5"})
    fake.data["customers"]["cus_5"]["updated_at"] = fake.data["customers"]["cus_1"]["updated_at"]  # a tie at the boundary
    fake.refuse_cursors = 1  # the first page's cursor has expired (400 invalid-cursor)
    seen = [c.remote_id for c in client.list_customers()]
    assert sorted(seen) == [f"cus_{n}" for n in range(6)] and len(seen) == 6
    restart = [query_of(r) for r in api_requests(fake) if "updated_since" in query_of(r) and "cursor" not in query_of(r)]
    assert restart and restart[0]["updated_since"] == fake.data["customers"]["cus_1"]["updated_at"]


def test_cursors_refused_again_and_again_end_the_walk_with_the_error(client, fake):
    for n in range(10):
        fake.put("customers", {**example("Customer"), "id": f"cus_{n}", "customer_code": f"C{n}"})
    fake.refuse_cursors = 100
    walk = client.list_customers()
    read = [next(walk).remote_id, next(walk).remote_id]
    with pytest.raises(ValidationFailed) as caught:
        for customer in walk:
            read.append(customer.remote_id)
    assert caught.value.code == "invalid-cursor"
    assert read == [f"cus_{n}" for n in range(5)]  # each restart got one page further, then gave up
    assert sum("updated_since" in query_of(r) and "cursor" not in query_of(r) for r in api_requests(fake)) == 3


def test_a_rerun_from_the_mark_drops_the_states_the_caller_already_holds(client, fake):
    first = fake.put("customers", {**example("Customer"), "id": "cus_a", "customer_code": "C1"})
    fake.put("customers", {**example("Customer"), "id": "cus_b", "customer_code": "C2"})
    mark = datetime.fromisoformat(first["updated_at"].replace("Z", "+00:00"))
    fake.touch("customers", "cus_b", name="changed")
    again = list(client.list_records("customer", modified_since=mark, known_versions={"cus_a": 1, "cus_b": 1}))
    assert [(c.remote_id, c.version) for c in again] == [("cus_b", 2)]


def test_unknown_filters_are_refused_before_a_call(client, fake):
    with pytest.raises(ValueError, match="cannot filter customer by 'colour'"):
        list(client.list_customers(colour="red"))
    assert api_requests(fake) == []


def test_get_unknown_record_is_not_found(client, fake):
    with pytest.raises(NotFound):
        client.get_record("customer", "cus_nope")


def test_named_reads_of_nested_resources(client, fake):
    made = seed(fake)
    bills = list(client.list_purchase_order_bills(made["purchase_order"]["id"]))
    assert [b.number for b in bills] == ["CG-INV-99102"] and bills[0].lines[0].line_total == Decimal("978.40")
    values = list(client.list_dimension_values(made["dimension"]["id"]))
    assert [(v.dimension_code, v.code) for v in values] == [("BRANCH", "LEEDS")]
    level = client.get_inventory_quantity("OX-300-CYL")
    assert level.inventory_value == Decimal("4587.68") and level.warehouses[1].warehouse == "HULL"
    assert list(client.list_invoice_payments(made["invoice"]["id"])) == []
    assert [e.number for e in client.list_gl_entries(source="inventory")] == ["JE-771045"]
    assert [a.code for a in client.list_gl_accounts(type="asset")] == ["1200"]
    assert [t.code for t in client.list_tax_codes()] == ["S20"]
    assert [a.number for a in client.list_inventory_adjustments(sku="OX-300-CYL")] == ["ADJ-3310"]
    assert [i.sku for i in client.list_inventory_levels(warehouse="HULL")] == ["OX-300-CYL"]


def test_find_by_external_ref_and_by_natural_key(client, fake):
    made = seed(fake)
    xero_id = made["customer"]["external_refs"]["xero"]
    assert [c.remote_id for c in client.find_records("customer", [xero_id])] == [made["customer"]["id"]]
    assert query_of(api_requests(fake)[-1])["external_ref"] == f"xero:{xero_id}"
    assert client.find_by_external_ref("customer", "not-there") is None
    assert [p.sku for p in client.find_records("product", ["OX-300-CYL"], field="sku")] == ["OX-300-CYL"]
    assert [i.number for i in client.find_records("receivable_invoice", ["INV-104233"], field="invoice_number")] == ["INV-104233"]
    value_ref = made["dimension_value"]["external_refs"]["xero"]
    assert [v.code for v in client.find_records("dimension_value", [value_ref])] == ["LEEDS"]
    with pytest.raises(ValueError):
        client.find_records("gl_account", ["x"])


# --- Writes ----------------------------------------------------------------------------------------


def test_create_customer_sends_the_contract_body_with_an_idempotency_key(client, fake):
    [result] = client.create_customers({"xero-contact-1": new_customer()}, idempotency_key="lb:conn_42:xero-contacts")
    assert result.ok and result.source_ref == "xero-contact-1" and result.remote_id.startswith("cus_")
    assert isinstance(result.record, Customer) and result.record.code and result.record.version == 1
    sent = api_requests(fake)[-1]
    body = json.loads(sent.content)
    assert body == {
        "name": "Leeds Gas Ltd", "email": "accounts@leedsgas.example", "currency": "GBP",
        "payment_terms": {"type": "net", "days": 30}, "credit_limit": "25000.00",
        "billing_address": {"line1": "14 Foundry Lane", "city": "Leeds", "postal_code": "LS11 5QT", "country": "GB"},
        "external_refs": {"xero": "6b9d0e5c-0000-4a1e-9a7c-000000000001"},
    }
    assert sent.headers["Idempotency-Key"].startswith("lb:conn_42:xero-contacts:xero-contact-1:")
    assert sent.headers["Content-Type"] == "application/json"


def test_the_same_create_again_is_replayed_not_applied(client, fake):
    first = client.create_customers({"c1": new_customer()})[0]
    again = client.create_customers({"c1": new_customer()})[0]
    assert again.ok and again.remote_id == first.remote_id and again.warnings
    assert len(fake.data["customers"]) == 1 and len(fake.writes) == 1
    keys = [r.headers["Idempotency-Key"] for r in api_requests(fake)]
    assert keys[0] == keys[1]
    other = client.create_customers({"c2": new_customer("another-xero-id", name="Other Ltd")})[0]
    assert other.ok and api_requests(fake)[-1].headers["Idempotency-Key"] != keys[0]


def test_a_duplicate_external_ref_names_the_existing_record(client, fake):
    first = client.create_customers({"c1": new_customer()})[0]
    changed = new_customer()
    changed.phone = "+44 113 000 0000"  # a new payload after the 24 h key window: a new key
    [result] = client.create_customers({"c1": changed})
    assert not result.ok and result.error_class is ErrorClass.DUPLICATE
    assert result.remote_id == first.remote_id and len(fake.data["customers"]) == 1


def test_a_refused_record_is_a_validation_result_with_the_field_errors(client, fake):
    fake.validate = False  # the body breaks the contract on purpose
    [result] = client.create_customers({"c1": Customer(name="No Currency Ltd")})
    assert not result.ok and result.error_class is ErrorClass.VALIDATION
    assert any("/currency" in e for e in result.errors)


def test_more_than_one_record_per_write_is_refused_before_any_call(client, fake):
    with pytest.raises(ValueError, match="one record per write"):
        client.create_customers({"a": new_customer(), "b": new_customer("x2")})
    assert api_requests(fake) == []


def test_update_is_a_merge_patch_with_if_match_and_no_immutable_code(client, fake):
    made = seed(fake)
    customer = client.get_record("customer", made["customer"]["id"])
    customer.email = "ap@northernwelding.example"
    [result] = client.update_customers({"x": customer})
    assert result.ok and result.record.version == customer.version + 1
    sent = api_requests(fake)[-1]
    assert sent.method == "PATCH" and sent.headers["Content-Type"] == "application/merge-patch+json"
    assert sent.headers["If-Match"] == f'W/"{customer.version}"'
    body = json.loads(sent.content)
    assert "customer_code" not in body and "external_refs" not in body and body["email"] == "ap@northernwelding.example"


def test_update_of_only_the_fields_we_own(client, fake):
    made = seed(fake)
    product = client.get_record("product", made["product"]["id"])
    product.sale_price = Decimal("49.125")
    product.name = "not ours to change"
    [result] = client.update_products({"p": product}, fields=["sale_price"])
    assert result.ok and json.loads(api_requests(fake)[-1].content) == {"sale_price": "49.125"}
    assert result.record.sale_price == Decimal("49.125") and result.record.name != "not ours to change"


def test_a_change_made_in_tims_meanwhile_is_a_conflict_not_overwritten(client, fake):
    made = seed(fake)
    vendor = client.get_record("vendor", made["vendor"]["id"])
    fake.touch("vendors", vendor.remote_id, email="changed@in.tims")
    vendor.phone = "+44 1 2"
    [result] = client.update_vendors({"v": vendor})
    assert not result.ok and result.error_class is ErrorClass.CONFLICT
    assert fake.data["vendors"][vendor.remote_id]["email"] == "changed@in.tims"


def test_vendors_and_products_create(client, fake):
    [vendor] = client.create_vendors({"v": Vendor(name="Argon Co", currency="GBP", payment_terms=PaymentTerms("end_of_month", 30),
                                                   external_refs={"xero": "ven-xero-1"})})
    assert vendor.ok and vendor.record.code
    product = Product(sku="AR-50", name="Argon 50L", unit="CYL", currency="GBP", sale_price=Decimal("61.250000"),
                      external_refs={"xero": "item-1"})
    [created] = client.create_products({"p": product})
    assert created.ok and created.record.sale_price == Decimal("61.25")
    assert json.loads(api_requests(fake)[-1].content)["sale_price"] == "61.250000"
    [dup] = client.create_products({"p2": Product(sku="AR-50", name="Again", unit="CYL", currency="GBP")})
    assert not dup.ok and dup.error_class is ErrorClass.DUPLICATE and dup.remote_id == created.remote_id


def test_read_only_entities_cannot_be_created(client):
    with pytest.raises(ValueError, match="does not take this write"):
        client.create_records("sales_order", {"x": object()})


def test_payments_record_void_and_settle_the_invoice(client, fake):
    made = seed(fake)
    invoice_id = made["invoice"]["id"]
    payment = ReceivablePayment(
        customer_id=made["customer"]["id"], payment_date=date(2026, 11, 24), amount=Decimal("225.12"), currency="GBP",
        method="bank_transfer", reference="BACS NWS 2411", deposit_account_code="1200",
        allocations=[PaymentAllocation(invoice_id=invoice_id, amount=Decimal("225.12"))], external_refs={"xero": "pay-xero-1"},
    )
    [result] = client.create_payments({"xero-pay-1": payment})
    assert result.ok and result.record.allocations[0].invoice_number == "INV-104233"
    assert client.get_record("receivable_invoice", invoice_id).status == "paid"
    assert [p.remote_id for p in client.list_invoice_payments(invoice_id)] == [result.remote_id]
    voided = client.void_payment(result.remote_id, "Payment deleted in Xero")
    assert voided.ok and voided.record.status == "void"
    assert client.get_record("receivable_invoice", invoice_id).amount_due == Decimal("225.12")


def test_an_invoice_payment_over_the_amount_due_is_refused_with_the_reason(client, fake):
    made = seed(fake)
    payment = ReceivablePayment(customer_id="", payment_date=date(2026, 11, 24), amount=Decimal("300.00"), currency="GBP", method="card")
    result = client.create_invoice_payment(made["invoice"]["id"], payment, source_ref="xero-pay-2")
    assert not result.ok and result.error_class is ErrorClass.VALIDATION and result.source_ref == "xero-pay-2"
    assert any("exceeds the amount due" in e for e in result.errors)
    ok = client.create_invoice_payment(made["invoice"]["id"], ReceivablePayment(
        customer_id="", payment_date=date(2026, 11, 24), amount=Decimal("100.00"), currency="GBP", method="card"))
    assert ok.ok and ok.record.amount == Decimal("100.00")
    assert set(json.loads(api_requests(fake)[-1].content)) == {"payment_date", "amount", "currency", "method"}


def test_mark_invoice_paid_and_reopen(client, fake):
    made = seed(fake)
    invoice_id = made["invoice"]["id"]
    paid = client.mark_invoice_paid(invoice_id, "Paid in Xero (payment 3f2a)", settled_on=date(2026, 11, 24), version=1)
    assert paid.ok and paid.record.status == "paid" and paid.record.external_settlement.amount == Decimal("225.12")
    assert api_requests(fake)[-1].headers["If-Match"] == 'W/"1"'
    stale = client.reopen_invoice(invoice_id, "Xero payment deleted", version=1)
    assert not stale.ok and stale.error_class is ErrorClass.CONFLICT  # 412: it changed since version 1
    reopened = client.reopen_invoice(invoice_id, "Xero payment deleted", version=paid.record.version)
    assert reopened.ok and reopened.record.status == "open" and reopened.record.amount_due == Decimal("225.12")
    fake.data["accounts/receivable/invoices"][invoice_id]["status"] = "void"
    void = client.mark_invoice_paid(invoice_id, "late")
    assert not void.ok and void.error_class is ErrorClass.CONFLICT


def test_external_refs_on_read_only_and_writable_records(client, fake):
    made = seed(fake)
    order_id = made["sales_order"]["id"]
    before = fake.data["salesorders"][order_id]["version"]
    result = client.set_external_refs("sales_order", order_id, {"xero": "inv-xero-9"})
    assert result.ok and result.record.external_refs == {"xero": "inv-xero-9"}
    assert api_requests(fake)[-1].url.path.endswith(f"/salesorders/{order_id}/external-refs")
    assert fake.data["salesorders"][order_id]["version"] == before  # no echo into the next read
    customer = client.set_external_refs("customer", made["customer"]["id"], {"xero": None, "legacy": "L-1"})
    assert customer.ok and customer.record.external_refs == {"legacy": "L-1"}
    assert json.loads(api_requests(fake)[-1].content) == {"external_refs": {"xero": None, "legacy": "L-1"}}
    value = made["dimension_value"]
    assert client.set_external_refs("dimension_value", f"{value['dimension_id']}/{value['id']}", {"xero": "opt-1"}).ok
    with pytest.raises(ValueError):
        client.set_external_refs("tax_code", "tax_1", {"xero": "x"})


# --- Unknown outcomes and errors -----------------------------------------------------------------


def test_a_lost_answer_after_the_commit_is_settled_by_external_ref_not_created_twice(client, fake):
    fake.drop_after_commit.add("POST customers")
    customer = new_customer("xero-contact-lost")
    with pytest.raises(UnknownOutcome):
        client.create_customers({"c": customer})
    assert len(fake.writes) == 1  # it landed; the connector did not retry blindly
    found = client.find_by_external_ref("customer", "xero-contact-lost")
    assert found is not None and found.name == "Leeds Gas Ltd"
    assert len(fake.data["customers"]) == 1


def test_a_lost_answer_before_the_commit_is_settled_as_absent(client, fake, monkeypatch):
    def refuse(request):
        raise httpx.ReadTimeout("timed out", request=request)

    original = fake.handle
    monkeypatch.setattr(fake, "handle", lambda r: refuse(r) if r.method == "POST" and r.url.path.startswith("/api/") else original(r))
    with pytest.raises(UnknownOutcome):
        client.create_customers({"c": new_customer("xero-contact-never")})
    assert client.find_by_external_ref("customer", "xero-contact-never") is None


def test_a_401_gets_one_new_token_and_a_revoked_client_needs_a_person(client, fake, store):
    seed(fake)
    list(client.list_customers())
    fake.revoke_tokens()  # the site forgot the token: one new one, and the call goes through
    assert len(list(client.list_customers())) == 1
    assert fake.token_calls == 2
    fake.validate = False
    fake.handle = lambda request, original=fake.handle: (
        fake.problem(401, "unauthorized", "revoked") if request.url.path.startswith("/api/") else original(request)
    )
    with pytest.raises(ReauthorizationRequired, match="revoked or disabled"):
        list(client.list_customers())
    assert fake.token_calls == 3  # once more, not in a loop


def test_wrong_client_secret_needs_a_person(fake):
    settings = ConnectionSettings(system="tims", base_url=SETTINGS.base_url, credentials={"client_id": "ledgerbridge-test", "client_secret": "wrong"})
    client = connect(settings, token_store=InMemoryTokenStore(), sleep=lambda s: None)
    with pytest.raises(ReauthorizationRequired, match="invalid_client"):
        client.get_records("customer", ["cus_x"])
    assert fake.token_calls == 0 and api_requests(fake) == []


def test_a_missing_scope_is_not_an_expired_token(client, fake):
    fake.validate = False
    fake.handle = lambda request, original=fake.handle: (
        fake.problem(403, "insufficient-scope", "needs gl:read") if request.url.path.startswith("/api/") else original(request)
    )
    with pytest.raises(ReauthorizationRequired, match="gl:read"):
        list(client.list_gl_entries())
    assert fake.token_calls == 1


def test_idempotency_key_in_use_is_transient_and_keeps_the_key(client, fake):
    fake.validate = False
    fake.handle = lambda request, original=fake.handle: (
        fake.problem(409, "idempotency-key-in-use", "still running", headers={"Retry-After": "1"}) if request.method == "POST" and request.url.path.startswith("/api/") else original(request)
    )
    with pytest.raises(TransientError):
        client.create_customers({"c": new_customer()})


def test_check_reports_the_site_and_the_granted_scopes(client, fake):
    seed(fake)
    report = client.check()
    assert report["base_url"] == "https://tims.example.com" and report["probe"] == "customer" and report["records_visible"]
    assert "customers:read" in report["scopes"]


def test_the_stand_in_itself_is_held_to_the_contract():
    """A fake that drifted from openapi.yaml would make every test above prove nothing."""
    request = httpx.Request("GET", "https://tims.example.com/api/v1/customers?limit=2")
    good = example("Customer")
    check_against_contract(request, httpx.Response(200, json={"data": [good], "next_cursor": None}, headers={
        "RateLimit-Limit": "120", "RateLimit-Remaining": "1", "RateLimit-Reset": "3"}))
    bad = {**good, "balance": 4310.4}  # money as a JSON number
    with pytest.raises(ContractViolation):
        check_against_contract(request, httpx.Response(200, json={"data": [bad], "next_cursor": None}, headers={
            "RateLimit-Limit": "120", "RateLimit-Remaining": "1", "RateLimit-Reset": "3"}))
    unknown_field = httpx.Request("POST", "https://tims.example.com/api/v1/customers", json={"name": "x", "currency": "GBP", "colour": "red"})
    with pytest.raises(ContractViolation):
        check_against_contract(unknown_field, httpx.Response(201, json=good, headers={
            "RateLimit-Limit": "120", "RateLimit-Remaining": "1", "RateLimit-Reset": "3"}))


def test_a_dry_run_shows_exactly_the_body_a_write_sends(client, fake):
    customer = new_customer()
    preview = client.encode_record("customer", customer)
    client.create_customers({"c": customer})
    assert json.loads(api_requests(fake)[-1].content) == preview
    saved = client.find_by_external_ref("customer", customer.external_refs["xero"])
    saved.phone = "+44 113 496 0001"
    patch = client.encode_record("customer", saved, update=True)
    assert "customer_code" not in patch and "external_refs" not in patch and patch["phone"] == "+44 113 496 0001"
    with pytest.raises(ValueError):
        client.encode_record("sales_order", object())
