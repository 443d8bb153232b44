"""A tour of every emulated resource, each call checked against Xero's OpenAPI documents
(requests the spec calls valid, answers of the statuses it models)."""

from __future__ import annotations

import time

import pytest

from tests.sandbox.conftest import authorised_invoice
from tests.sandbox.spec import ACCOUNTING, IDENTITY, load, specs_present


@pytest.fixture(scope="session")
def accounting_spec():
    if not specs_present():
        print("SKIP REASON: Xero's OpenAPI documents are not in ../shared/specs/xero beside the repository")
        pytest.skip("Xero's OpenAPI documents are not in ../shared/specs/xero beside the repository")
    started = time.monotonic()
    spec = load(ACCOUNTING)  # cached: parsed once per test session
    return spec, time.monotonic() - started


def test_spec_loads_quickly(accounting_spec):
    _, seconds = accounting_spec
    assert seconds < 10


def test_every_resource_against_the_spec(accounting_spec, xero, contact_id, tenant):
    calls_before = xero.validated
    invoice = authorised_invoice(xero, contact_id)
    bill = authorised_invoice(xero, contact_id, type_="ACCPAY", number="BILL-9")
    assert xero.get("/Invoices", {"page": 1, "pageSize": 10, "order": "Date DESC"}).status_code == 200
    assert xero.get("/Invoices", {"Statuses": "AUTHORISED", "ContactIDs": contact_id}).status_code == 200
    assert xero.get(f"/Invoices/{bill['InvoiceID']}").status_code == 200
    assert xero.post(f"/Invoices/{invoice['InvoiceID']}", {"Invoices": [{"Reference": "PO-77"}]}).status_code == 200
    payment = xero.put("/Payments", {"Payments": [{"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"}, "Date": "2026-01-20", "Amount": 10.0}]})
    assert payment.status_code == 200
    single = xero.post("/Payments", {"Invoice": {"InvoiceID": bill["InvoiceID"]}, "Account": {"Code": "090"}, "Date": "2026-01-21", "Amount": 5.0})
    assert single.status_code == 200
    payment_id = payment.json()["Payments"][0]["PaymentID"]
    assert xero.get("/Payments", {"page": 1}).status_code == 200
    assert xero.get(f"/Payments/{payment_id}").status_code == 200
    assert xero.post(f"/Payments/{payment_id}", {"Status": "DELETED"}).status_code == 200

    assert xero.get("/Contacts", {"page": 1, "searchTerm": "fixture"}).status_code == 200
    assert xero.get(f"/Contacts/{contact_id}").status_code == 200
    assert xero.post("/Contacts", {"Contacts": [{"Name": "Tour Supplier", "Addresses": [{"AddressType": "STREET", "City": "Leeds"}]}]}).status_code == 200
    assert xero.put("/Contacts", {"Contacts": [{"Name": "Tour Supplier"}]}).status_code == 400  # 400 shape checked too

    item = xero.put("/Items", {"Items": [{"Code": "TOUR-1", "Name": "Tour item", "SalesDetails": {"UnitPrice": 5.0, "AccountCode": "200"}}]})
    assert item.status_code == 200
    item_id = item.json()["Items"][0]["ItemID"]
    assert xero.get("/Items").status_code == 200
    assert xero.get(f"/Items/{item_id}").status_code == 200

    assert xero.get("/Accounts").status_code == 200
    assert xero.get("/TaxRates").status_code == 200
    assert xero.get("/TaxRates/OUTPUT2").status_code == 200
    assert xero.put("/TaxRates", {"TaxRates": [{"Name": "Tour 7.5%", "TaxComponents": [{"Name": "VAT", "Rate": 7.5}]}]}).status_code == 200
    assert xero.get("/Currencies").status_code == 200
    assert xero.put("/Currencies", {"Code": "NZD", "Description": "New Zealand Dollar"}).status_code == 200
    assert xero.get("/Organisation").status_code == 200

    categories = xero.get("/TrackingCategories").json()["TrackingCategories"]
    region = categories[0]
    assert xero.get(f"/TrackingCategories/{region['TrackingCategoryID']}").status_code == 200
    assert xero.post(f"/TrackingCategories/{region['TrackingCategoryID']}", {"Name": "Area"}).status_code == 200
    option = xero.put(f"/TrackingCategories/{region['TrackingCategoryID']}/Options", {"Name": "East"}).json()["Options"][0]
    assert xero.post(f"/TrackingCategories/{region['TrackingCategoryID']}/Options/{option['TrackingOptionID']}", {"Name": "East Coast"}).status_code == 200

    line = {"Description": "Fees", "Quantity": 1.0, "UnitAmount": 3.0, "AccountCode": "429", "Tracking": [{"Name": "Area", "Option": "North"}]}
    bank = xero.put("/BankTransactions", {"BankTransactions": [{"Type": "SPEND", "Contact": {"ContactID": contact_id}, "BankAccount": {"Code": "090"}, "LineItems": [line]}]})
    assert bank.status_code == 200
    assert xero.get("/BankTransactions", {"page": 1}).status_code == 200
    assert xero.get(f"/BankTransactions/{bank.json()['BankTransactions'][0]['BankTransactionID']}").status_code == 200

    journal = xero.put("/ManualJournals", {"ManualJournals": [{"Narration": "Tour", "JournalLines": [{"LineAmount": 50.0, "AccountCode": "429"}, {"LineAmount": -50.0, "AccountCode": "260"}]}]})
    assert journal.status_code == 200
    assert xero.get("/ManualJournals", {"page": 1}).status_code == 200

    note = xero.put("/CreditNotes", {"CreditNotes": [{"Type": "ACCPAYCREDIT", "Contact": {"ContactID": contact_id}, "LineItems": [{"Description": "Refund", "Quantity": 1.0, "UnitAmount": 2.0, "AccountCode": "429"}]}]})
    assert note.status_code == 200
    assert xero.get("/CreditNotes", {"page": 1}).status_code == 200
    assert xero.get(f"/CreditNotes/{note.json()['CreditNotes'][0]['CreditNoteID']}").status_code == 200

    assert xero.delete(f"/Items/{item_id}").status_code == 204
    assert xero.validated - calls_before >= 39


def test_connections_match_the_identity_spec(accounting_spec, client, xero):
    from openapi_core.datatypes import RequestParameters
    from werkzeug.datastructures import Headers, ImmutableMultiDict

    from tests.sandbox.spec import SpecRequest, to_spec_response

    response = client.get("/sandbox/xero/connections", HTTP_AUTHORIZATION=f"Bearer {xero.token}")
    request = SpecRequest(
        host_url="https://api.xero.com",
        path="/Connections",
        method="get",
        parameters=RequestParameters(query=ImmutableMultiDict(), header=Headers({"Authorization": f"Bearer {xero.token}"}), cookie=ImmutableMultiDict(), path={}),
        body=None,
        content_type="application/json",
    )
    load(IDENTITY).validate_response(request, to_spec_response(status=200, headers=dict(response.headers), body=response.content))


def test_the_validator_catches_a_wrong_answer(accounting_spec):
    from openapi_core.exceptions import OpenAPIError

    from tests.sandbox.spec import check_accounting

    wrong = b'{"Contacts":[{"ContactID":"not-a-uuid","IsSupplier":"yes"}]}'
    with pytest.raises(OpenAPIError):
        check_accounting("GET", "http://testserver/sandbox/xero/api.xro/2.0/Contacts", {"xero-tenant-id": "3b1e0b7e-4f4b-4d34-9b1a-2f5a6f3c2a11"}, None, 200, {"Content-Type": "application/json"}, wrong)
