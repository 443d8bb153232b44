"""A batch of new invoices is answered with exactly what reading each invoice back gives, byte
for byte (rounding, signs of zero, key order of stored JSON), whatever the elements hold; and
an element that fails leaves nothing behind, whether or not it ran in a savepoint."""

from __future__ import annotations

import json

import pytest

from sandbox.models import XeroContact, XeroInvoice

LINE = {"Description": "Consulting", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200", "TaxType": "OUTPUT2"}


def _elements(contact_id: str, prefix: str) -> list[dict]:
    def invoice(number: str, *lines: dict, **fields) -> dict:
        return {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "InvoiceNumber": f"{prefix}-{number}",
                "Date": "2026-01-15", "DueDate": "2026-02-15", "Status": "AUTHORISED",
                "LineItems": list(lines) or [dict(LINE)], **fields}

    return [
        invoice("plain", Reference="Order 1", Url="https://example.com/o/1"),
        invoice("qty-5dp", dict(LINE, Quantity=1.00005)),  # a tie: PostgreSQL rounds it away from zero
        invoice("qty-16-digits", dict(LINE, Quantity=123456789012.3456, UnitAmount=0.01)),  # past SQLite's REAL
        invoice("discount", {"ItemCode": "WIDGET-01", "Quantity": 3, "UnitAmount": 9.99, "DiscountRate": 12.5}),
        invoice("discount-5dp", dict(LINE, DiscountRate=0.00001)),
        invoice("tracking", dict(LINE, Tracking=[{"Name": "Region", "Option": "North"}])),
        invoice("eur", CurrencyCode="EUR", CurrencyRate=0.85),
        invoice("eur-7dp", CurrencyCode="EUR", CurrencyRate=1.0000005),
        invoice("amount-only", {"Description": "Fee", "LineAmount": 50, "AccountCode": "200"}),
        invoice("negative-zero", dict(LINE, Quantity=-1, UnitAmount=0), dict(LINE, Quantity=-0.0, UnitAmount=5)),
        invoice("inclusive", dict(LINE, UnitAmount=120), LineAmountTypes="Inclusive"),
        invoice("notax", {k: v for k, v in LINE.items() if k != "TaxType"}, LineAmountTypes="NoTax"),
        invoice("tax-override", dict(LINE, TaxAmount=19.99)),
        invoice("unit-4dp", dict(LINE, UnitAmount=123456789.12345, Quantity=2.5)),
        invoice("failing", dict(LINE, AccountCode="999")),
        {k: v for k, v in invoice("draft", {"Description": "", "Quantity": 1}, Status="DRAFT").items() if k not in ("Date", "DueDate")},
        invoice("unicode", dict(LINE, Description="Café ☕ — über"), Reference="Réf ✓"),
        {"Type": "ACCPAY", "Contact": {"ContactID": contact_id}, "InvoiceNumber": f"{prefix}-bill",
         "Status": "AUTHORISED", "LineItems": [dict(LINE, AccountCode="429", TaxType="INPUT2")]},
    ]


def _same_as_read_back(xero, answered: list[dict], query: str) -> None:
    differing = []
    for element in answered:
        if element["StatusAttributeString"] != "OK":
            continue
        read = xero.get(f"/Invoices/{element['InvoiceID']}", dict(p.split("=") for p in query.split("&") if p))
        expected = read.json()["Invoices"][0]
        given = {k: v for k, v in element.items() if k != "StatusAttributeString"}
        if json.dumps(given) != json.dumps(expected):
            differing.append((element.get("InvoiceNumber"), json.dumps(given), json.dumps(expected)))
    assert differing == []


@pytest.mark.parametrize("query", ["summarizeErrors=false", "summarizeErrors=false&unitdp=4"])
def test_answers_of_a_put_batch_are_what_reading_back_gives(xero, contact_id, query):
    elements = _elements(contact_id, "RB" + str(len(query)))
    response = xero.put("/Invoices", {"Invoices": elements}, query=query)
    assert response.status_code == 200
    answered = response.json()["Invoices"]
    statuses = [e["StatusAttributeString"] for e in answered]
    assert statuses == ["ERROR" if e["InvoiceNumber"].endswith("-failing") else "OK" for e in elements]
    _same_as_read_back(xero, answered, query)


def test_answers_without_deferred_inserts_are_what_reading_back_gives(xero, contact_id):
    """Generated numbers and contacts created by name: each invoice is inserted as it is written."""
    elements = _elements(contact_id, "ND")
    for element in elements[:3]:
        del element["InvoiceNumber"]
    elements[4]["Contact"] = {"Name": "Brand New Ltd", "ContactNumber": 12345}
    elements[5]["Contact"] = {"Name": "brand new ltd"}
    # An integer ContactNumber is outside the spec, and stored as text.
    response = xero.put("/Invoices", {"Invoices": elements}, query="summarizeErrors=false", spec=False)
    assert response.status_code == 200
    answered = response.json()["Invoices"]
    assert answered[4]["Contact"]["ContactNumber"] == "12345"
    assert answered[4]["Contact"]["ContactID"] == answered[5]["Contact"]["ContactID"]
    _same_as_read_back(xero, answered, "summarizeErrors=false")


def test_a_failing_element_leaves_nothing_behind(xero, contact_id, tenant):
    elements = [
        {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "InvoiceNumber": "F-1", "LineItems": [dict(LINE)]},
        {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "InvoiceNumber": "F-2", "Status": "AUTHORISED",
         "LineItems": [dict(LINE, AccountCode="999")]},
        # Creates its contact, then fails: the contact goes with it.
        {"Type": "ACCREC", "Contact": {"Name": "Rolled Back Ltd"}, "InvoiceNumber": "F-1", "LineItems": [dict(LINE)]},
        {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "InvoiceNumber": "F-3", "LineItems": [dict(LINE)]},
    ]
    response = xero.put("/Invoices", {"Invoices": elements}, query="summarizeErrors=false")
    answered = response.json()["Invoices"]
    assert [e["StatusAttributeString"] for e in answered] == ["OK", "ERROR", "ERROR", "OK"]
    assert answered[1]["ValidationErrors"] == [{"Message": "Account code '999' is not a valid code for this document."}]
    assert answered[2]["ValidationErrors"] == [{"Message": "Invoice # must be unique."}]
    assert not XeroContact.objects.filter(tenant=tenant, name="Rolled Back Ltd").exists()
    numbers = sorted(XeroInvoice.objects.filter(tenant=tenant, invoice_number__startswith="F-").values_list("invoice_number", flat=True))
    assert numbers == ["F-1", "F-3"]
    _same_as_read_back(xero, answered, "")
