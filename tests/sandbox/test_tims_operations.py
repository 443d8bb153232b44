"""Every operation of the TIMS contract, called once on a seeded site, each request and answer
validated against ``connectors/tims/openapi.yaml``; then the rules of the records themselves."""

from __future__ import annotations

import json
import re
from base64 import b64encode
from datetime import date
from decimal import Decimal

import pytest

from sandbox.models import TimsProduct, TimsSalesOrder, TimsWebhookEvent
from sandbox.tims.services import tims_demo_seed
from tests.sandbox.tims_support import contract_document, problem_type

V1 = "/api/v1"


@pytest.fixture
def seeded(tims, tims_site):
    tims_demo_seed(site=tims_site, seed=1)
    return tims


def first(api, path, params=None):
    response = api.get(path, {**(params or {}), "limit": 1})
    assert response.status_code == 200, response.content
    return response.json()["data"][0]


def _template_regex(template: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"\{[^}]+\}", r"[^/]+(?:/[^/]+)*?" if "sku" in template else "[^/]+", template) + "$")


def covered_operations(calls, api_prefix="") -> set[tuple[str, str]]:
    templates = list(contract_document()["paths"])
    hit = set()
    for method, path, status in calls:
        if not 200 <= status < 300:
            continue
        path = path.split("?")[0]
        matches = [t for t in templates if re.sub(r"\{[^}]+\}", "x", t).count("/") == path.count("/") and _template_regex(t).match(path)]
        # A literal segment beats a parameter (/payments/{id} vs /payments/x/void).
        matches.sort(key=lambda t: t.count("{"))
        if matches:
            hit.add((method.lower(), matches[0]))
    return hit


def test_every_operation_answers_as_the_contract_says(seeded, client, tims_client):
    api = seeded
    customer = first(api, f"{V1}/customers")
    vendor = first(api, f"{V1}/vendors")
    product = first(api, f"{V1}/products", {"tracked": "true"})
    order = first(api, f"{V1}/salesorders", {"status": "shipped,completed"})
    po = first(api, f"{V1}/purchaseorders", {"status": "closed"})
    bill = first(api, f"{V1}/vendorbills")
    invoice = first(api, f"{V1}/accounts/receivable/invoices", {"status": "open"})
    payment = first(api, f"{V1}/payments")
    adjustment_list = api.get(f"{V1}/inventory/adjustments")
    entry = first(api, f"{V1}/gl/entries")
    account = first(api, f"{V1}/gl/accounts")
    tax = first(api, f"{V1}/taxcodes")
    dimension = first(api, f"{V1}/dimensions")
    assert adjustment_list.status_code == 200

    token = client.post(
        "/sandbox/tims/acme/oauth/token",
        "grant_type=client_credentials&scope=customers%3Aread",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION="Basic " + b64encode(f"{tims_client.client_id}:{tims_client.client_secret}".encode()).decode(),
    )
    assert token.status_code == 200
    api.calls.append(("POST", "/oauth/token", 200))

    for path in (
        f"/customers/{customer['id']}", f"/vendors/{vendor['id']}", f"/products/{product['id']}",
        f"/salesorders/{order['id']}", f"/purchaseorders/{po['id']}", f"/purchaseorders/{po['id']}/bills",
        f"/vendorbills/{bill['id']}", f"/accounts/receivable/invoices/{invoice['id']}",
        f"/accounts/receivable/invoices/{invoice['id']}/payments", f"/payments/{payment['id']}",
        "/inventory/items", f"/inventory/items/{product['sku']}/quantity", f"/gl/entries/{entry['id']}",
        f"/gl/accounts/{account['id']}", f"/taxcodes/{tax['id']}", f"/dimensions/{dimension['id']}",
        f"/dimensions/{dimension['id']}/values", "/webhooks/subscriptions",
    ):
        assert api.get(V1 + path).status_code == 200, path
    value = first(api, f"{V1}/dimensions/{dimension['id']}/values")
    assert api.get(f"{V1}/dimensions/{dimension['id']}/values/{value['id']}").status_code == 200

    created = api.post(f"{V1}/customers", {"name": "Tour Ltd", "currency": "GBP"}, headers={"Idempotency-Key": "tour-1"})
    assert created.status_code == 201 and created["Location"].endswith(created.json()["id"])
    assert api.patch(f"{V1}/customers/{created.json()['id']}", {"phone": "+44 1"}, headers={"If-Match": created["ETag"]}).status_code == 200
    new_vendor = api.post(f"{V1}/vendors", {"name": "Tour Supplies", "currency": "GBP"})
    assert new_vendor.status_code == 201
    assert api.patch(f"{V1}/vendors/{new_vendor.json()['id']}", {"email": "ap@tour.example"}).status_code == 200
    new_product = api.post(f"{V1}/products", {"sku": "TOUR/1", "name": "Tour gas", "unit": "CYL", "currency": "GBP"})
    assert new_product.status_code == 201
    assert api.patch(f"{V1}/products/{new_product.json()['id']}", {"tracked": True}).status_code == 200
    for path in (
        f"/salesorders/{order['id']}", f"/purchaseorders/{po['id']}", f"/vendorbills/{bill['id']}",
        f"/accounts/receivable/invoices/{invoice['id']}", f"/gl/entries/{entry['id']}", f"/dimensions/{dimension['id']}",
        f"/dimensions/{dimension['id']}/values/{value['id']}",
    ):
        assert api.patch(V1 + path + "/external-refs", {"xero": f"x-{path.count('/')}-{path[-6:]}"}).status_code == 200, path
    paid = api.post(
        f"{V1}/accounts/receivable/invoices/{invoice['id']}/payments",
        {"payment_date": "2026-11-21", "amount": "1.00", "currency": invoice["currency"], "method": "bank_transfer"},
    )
    assert paid.status_code == 201, paid.content
    assert api.post(f"{V1}/accounts/receivable/invoices/{invoice['id']}/status", {"status": "paid", "reason": "Paid in Xero"}).status_code == 200
    receipt = api.post(
        f"{V1}/payments",
        {"customer_id": customer["id"], "payment_date": "2026-11-21", "amount": "10.00", "currency": customer["currency"], "method": "card"},
    )
    assert receipt.status_code == 201
    assert api.patch(f"{V1}/payments/{receipt.json()['id']}", {"memo": "on account"}).status_code == 200
    assert api.post(f"{V1}/payments/{receipt.json()['id']}/void", {"reason": "Deleted in Xero"}).status_code == 200
    adjustment = TimsProduct.objects.get(id=product["id"])
    from sandbox.tims.records import SYSTEM_ACTOR
    from sandbox.tims.stock import adjustment_create

    made = adjustment_create(product=adjustment, warehouse="LEEDS", reason="damage", actor=SYSTEM_ACTOR, quantity_delta=Decimal("-1"))
    assert api.get(f"{V1}/inventory/adjustments/{made.id}").status_code == 200
    assert api.patch(f"{V1}/inventory/adjustments/{made.id}/external-refs", {"xero": "adj-1"}).status_code == 200
    sub = api.post(f"{V1}/webhooks/subscriptions", {"url": "https://hooks.example/tims", "events": ["ping", "payment.created"]})
    assert sub.status_code == 201 and sub.json()["secret"].startswith("whsec_")
    sub_path = f"{V1}/webhooks/subscriptions/{sub.json()['id']}"
    assert api.get(sub_path).status_code == 200
    assert api.patch(sub_path, {"description": "tour"}).status_code == 200
    assert api.post(sub_path + "/rotate-secret").status_code == 200
    assert api.post(sub_path + "/ping").status_code == 202
    assert api.delete(sub_path).status_code == 204

    operations = {(method, path) for path, item in contract_document()["paths"].items() for method in item if method in ("get", "post", "patch", "delete")}
    assert len(operations) == 59
    missing = operations - covered_operations(api.calls)
    assert not missing, sorted(missing)


def test_customer_rules(tims):
    refs = {"xero": "6b9d0e5c-2f5f-4a1e-9a7c-0b7f6f1c2d3e"}
    created = tims.post(f"{V1}/customers", {"name": "Northern Welding", "currency": "GBP", "external_refs": refs, "payment_terms": {"type": "net", "days": 30}})
    body = created.json()
    assert created.status_code == 201 and created["ETag"] == 'W/"1"' and body["customer_code"].startswith("C")
    assert body["balance"] == "0.00" and body["last_modified_by"]["type"] == "api_client"

    duplicate = tims.post(f"{V1}/customers", {"name": "Copy", "currency": "GBP", "external_refs": refs})
    assert duplicate.status_code == 409 and problem_type(duplicate) == "duplicate-external-ref"
    assert duplicate.json()["existing_id"] == body["id"]
    found = tims.get(f"{V1}/customers", {"external_ref": f"xero:{refs['xero']}"}).json()["data"]
    assert [c["id"] for c in found] == [body["id"]]

    invalid = tims.post(f"{V1}/customers", {"name": "", "currency": "pounds", "colour": "red"})
    assert invalid.status_code == 422 and problem_type(invalid) == "validation-error"
    errors = {(e["field"], e["code"]) for e in invalid.json()["errors"]}
    assert {("/colour", "unknown_field"), ("/currency", "invalid_format"), ("/name", "invalid_value")} <= errors

    path = f"{V1}/customers/{body['id']}"
    immutable = tims.patch(path, {"customer_code": "X1"})
    assert immutable.status_code == 422 and ("/customer_code", "immutable") in {(e["field"], e["code"]) for e in immutable.json()["errors"]}
    assert tims.patch(path, {"name": None}).status_code == 422

    patched = tims.patch(path, {"payment_terms": {"type": "net", "days": 45}, "billing_address": {"city": "Leeds"}}, headers={"If-Match": 'W/"1"'})
    assert patched.status_code == 200 and patched.json()["payment_terms"] == {"type": "net", "days": 45}
    assert patched["ETag"] == 'W/"2"' and patched.json()["updated_at"] > body["updated_at"]
    stale = tims.patch(path, {"phone": "1"}, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412 and problem_type(stale) == "precondition-failed"

    before = tims.get(path).json()
    refs_only = tims.patch(path, {"external_refs": {"xero": None, "crm": "A-1"}})
    assert refs_only.json()["external_refs"] == {"crm": "A-1"}
    assert (refs_only.json()["version"], refs_only.json()["updated_at"]) == (before["version"], before["updated_at"])
    assert tims.get(f"{V1}/customers/cus_nothing").status_code == 404


def test_product_rules(tims):
    body = {"sku": "OX-300-CYL", "name": "Oxygen", "unit": "CYL", "currency": "GBP", "sale_price": "48.123456"}
    created = tims.post(f"{V1}/products", body)
    assert created.status_code == 201 and created.json()["sale_price"] == "48.123456" and created.json()["tracked"] is False
    duplicate = tims.post(f"{V1}/products", body)
    assert duplicate.status_code == 409 and problem_type(duplicate) == "duplicate-sku" and duplicate.json()["existing_id"] == created.json()["id"]
    untracked = tims.get(f"{V1}/inventory/items/OX-300-CYL/quantity")
    assert untracked.status_code == 409 and problem_type(untracked) == "not-tracked"
    assert tims.get(f"{V1}/inventory/items/NOPE/quantity").status_code == 404
    path = f"{V1}/products/{created.json()['id']}"
    assert tims.patch(path, {"tracked": True}).json()["tracked"] is True
    refused = tims.patch(path, {"tracked": False})
    assert refused.status_code == 409 and problem_type(refused) == "invalid-state"
    level = tims.get(f"{V1}/inventory/items/OX-300-CYL/quantity")
    assert level.status_code == 200 and level.json()["on_hand"] == "0"
    slashed = tims.post(f"{V1}/products", {"sku": "CYL/AR 50", "name": "Argon", "unit": "CYL", "currency": "GBP", "tracked": True})
    assert slashed.status_code == 201
    assert tims.get(f"{V1}/inventory/items/CYL%2FAR%2050/quantity").json()["sku"] == "CYL/AR 50"


def test_payments_and_invoice_status(seeded, tims_site):
    api = seeded
    invoice = first(api, f"{V1}/accounts/receivable/invoices", {"status": "open"})
    path = f"{V1}/accounts/receivable/invoices/{invoice['id']}"
    due = Decimal(invoice["amount_due"])

    too_much = api.post(path + "/payments", {"payment_date": "2026-11-21", "amount": str(due + 1), "currency": invoice["currency"], "method": "check"})
    assert too_much.status_code == 422 and too_much.json()["errors"] == [
        {"field": "/amount", "code": "exceeds_amount_due", "message": too_much.json()["errors"][0]["message"]}
    ]
    void = first(api, f"{V1}/accounts/receivable/invoices", {"status": "void"})
    refused = api.post(f"{V1}/accounts/receivable/invoices/{void['id']}/payments", {"payment_date": "2026-11-21", "amount": "1", "currency": void["currency"], "method": "cash"})
    assert refused.status_code == 409 and refused.json()["current_status"] == "void"
    assert problem_type(api.post(f"{V1}/accounts/receivable/invoices/{void['id']}/status", {"status": "paid", "reason": "x"})) == "invalid-state"
    other = "EUR" if invoice["currency"] != "EUR" else "GBP"
    mismatch = api.post(f"{V1}/payments", {"customer_id": invoice["customer_id"], "payment_date": "2026-11-21", "amount": "1", "currency": other, "method": "cash", "allocations": [{"invoice_id": invoice["id"], "amount": "1"}]})
    assert mismatch.status_code == 422 and "currency_mismatch" in {e["code"] for e in mismatch.json()["errors"]}
    digits = api.post(path + "/payments", {"payment_date": "2026-11-21", "amount": "1.001", "currency": invoice["currency"], "method": "cash"})
    assert digits.status_code == 422

    half = (due / 2).quantize(Decimal("0.01"))
    paid = api.post(path + "/payments", {"payment_date": "2026-11-21", "amount": str(half), "currency": invoice["currency"], "method": "bank_transfer", "external_refs": {"xero": "pay-1"}})
    assert paid.status_code == 201
    after = api.get(path).json()
    assert after["status"] == "partially_paid" and Decimal(after["amount_due"]) == due - half

    settled = api.post(path + "/status", {"status": "paid", "reason": "Paid in Xero", "settled_on": "2026-11-21"})
    assert settled.json()["status"] == "paid" and settled.json()["external_settlement"]["amount"] == after["amount_due"]
    assert api.post(path + "/status", {"status": "paid", "reason": "again"}).status_code == 200  # no-op
    reopened = api.post(path + "/status", {"status": "open", "reason": "Xero payment deleted"})
    assert reopened.json()["status"] == "partially_paid" and reopened.json()["external_settlement"] is None

    payment_path = f"{V1}/payments/{paid.json()['id']}"
    voided = api.post(payment_path + "/void", {"reason": "Deleted in Xero"})
    assert voided.json()["status"] == "void" and api.get(path).json()["amount_due"] == invoice["amount_due"]
    assert api.post(payment_path + "/void", {"reason": "again"}).status_code == 200
    assert api.post(path + "/status", {"status": "open", "reason": "x"}).status_code == 200  # already open: no-op

    from sandbox.tims.services import tims_site_close_period

    another = api.post(path + "/payments", {"payment_date": "2026-01-05", "amount": "1.00", "currency": invoice["currency"], "method": "cash"})
    tims_site_close_period(site=tims_site, through=date(2026, 1, 31))
    closed = api.post(f"{V1}/payments/{another.json()['id']}/void", {"reason": "late"})
    assert closed.status_code == 409 and problem_type(closed) == "period-closed"
    late = api.post(path + "/payments", {"payment_date": "2026-01-31", "amount": "1.00", "currency": invoice["currency"], "method": "cash"})
    assert late.status_code == 409 and problem_type(late) == "period-closed"


def test_sales_order_lifecycle_and_events(seeded, tims_site):
    from sandbox.tims import sales
    from sandbox.tims.records import SYSTEM_ACTOR

    api = seeded
    api.post(f"{V1}/webhooks/subscriptions", {"url": "https://hooks.example/t", "events": ["salesorder.status_changed", "gl.entry.posted"]})
    order = TimsSalesOrder.objects.filter(site=tims_site, status="open").order_by("order_number").first()
    product_line = order.lines.exclude(product=None).first()
    level = lambda: api.get(f"{V1}/inventory/items/{product_line.sku}/quantity", {"warehouse": order.warehouse}).json()  # noqa: E731
    start = level()
    sales.sales_order_allocate(order, actor=SYSTEM_ACTOR)
    assert Decimal(level()["allocated"]) == Decimal(start["allocated"]) + product_line.quantity
    invoice = sales.sales_order_ship(order, actor=SYSTEM_ACTOR)
    shipped = api.get(f"{V1}/salesorders/{order.id}").json()
    assert shipped["status"] == "shipped" and shipped["invoice_ids"] == [invoice.id] and shipped["due_date"]
    assert [h["status"] for h in shipped["status_history"]] == ["open", "allocated", "shipped"]
    assert Decimal(level()["on_hand"]) == Decimal(start["on_hand"]) - product_line.quantity
    sales.sales_order_cancel(order, actor=SYSTEM_ACTOR, reason="Wrong gas")
    assert Decimal(level()["on_hand"]) == Decimal(start["on_hand"])
    assert api.get(f"{V1}/accounts/receivable/invoices/{invoice.id}").json()["status"] == "void"
    entries = api.walk(f"{V1}/gl/entries", {"source": "sales,inventory"})
    for entry in entries:
        assert entry["total_debit"] == entry["total_credit"]
    reversed_ = [e for e in entries if e["source_document"] and e["source_document"]["id"] in (invoice.id, order.id)]
    assert {e["status"] for e in reversed_ if e["reverses_entry_id"] is None} == {"reversed"}

    completed = TimsSalesOrder.objects.filter(site=tims_site, status="completed").first()
    with pytest.raises(Exception) as refused:
        sales.sales_order_cancel(completed, actor=SYSTEM_ACTOR)
    assert refused.value.type == "invalid-state"
    changes = [json.loads(e.body)["data"] for e in TimsWebhookEvent.objects.filter(event_type="salesorder.status_changed")]
    assert [(c["previous_status"], c["status"]) for c in changes] == [("open", "allocated"), ("allocated", "shipped"), ("shipped", "cancelled")]


def test_the_sandbox_imports_no_product_code():
    """The sandbox is an outside world (DESIGN §2): it reads the contract as data, never imports
    integrations, reconciliation or connectors."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "sandbox"
    forbidden = re.compile(r"^\s*(from|import)\s+(integrations|reconciliation|connectors)\b", re.M)
    offenders = [str(p) for p in root.rglob("*.py") if forbidden.search(p.read_text())]
    assert offenders == []
