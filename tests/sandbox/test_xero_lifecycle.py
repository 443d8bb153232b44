"""Document lifecycle, payments and Xero's per-line tax rounding (api-notes §6.2, §6.3, §6.10)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox.xero.money import document_totals, line_tax
from tests.sandbox.conftest import authorised_invoice


def _pay(xero, invoice_id, amount, spec=True):
    return xero.put(
        "/Payments",
        {"Payments": [{"Invoice": {"InvoiceID": invoice_id}, "Account": {"Code": "090"}, "Date": "2026-01-20", "Amount": amount}]},
        spec=spec,
    )


def test_draft_can_be_deleted_authorised_cannot(xero, contact_id):
    draft = xero.put("/Invoices", {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": contact_id}}]}).json()["Invoices"][0]
    deleted = xero.post(f"/Invoices/{draft['InvoiceID']}", {"Invoices": [{"Status": "DELETED"}]})
    assert deleted.json()["Invoices"][0]["Status"] == "DELETED"
    invoice = authorised_invoice(xero, contact_id)
    refused = xero.post(f"/Invoices/{invoice['InvoiceID']}", {"Invoices": [{"Status": "DELETED"}]})
    assert refused.status_code == 400


def test_payments_update_amounts_and_status(xero, contact_id):
    invoice = authorised_invoice(xero, contact_id)  # 120.00 with VAT
    too_much = _pay(xero, invoice["InvoiceID"], 120.01)
    assert too_much.status_code == 400
    assert too_much.json()["Elements"][0]["ValidationErrors"][0]["Message"] == "Payment amount exceeds the amount outstanding on this document"
    assert _pay(xero, invoice["InvoiceID"], 20.0).status_code == 200
    part = xero.get(f"/Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert (part["AmountPaid"], part["AmountDue"], part["Status"]) == (20.0, 100.0, "AUTHORISED")
    void = xero.post(f"/Invoices/{invoice['InvoiceID']}", {"Invoices": [{"Status": "VOIDED"}]})
    assert void.status_code == 400  # payments first
    payment = _pay(xero, invoice["InvoiceID"], 100.0).json()["Payments"][0]
    assert payment["PaymentType"] == "ACCRECPAYMENT"
    paid = xero.get(f"/Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert (paid["Status"], paid["AmountDue"]) == ("PAID", 0.0)
    assert xero.post(f"/Invoices/{invoice['InvoiceID']}", {"Invoices": [{"LineItems": []}]}).status_code == 400
    # Payments are not edited, only deleted (api-notes §6.3).
    edit = xero.post(f"/Payments/{payment['PaymentID']}", {"Payments": [{"Amount": 5}]}, spec=False)
    assert edit.status_code == 400
    deleted = xero.post(f"/Payments/{payment['PaymentID']}", {"Status": "DELETED"})
    assert deleted.status_code == 200 and deleted.json()["Payments"][0]["Status"] == "DELETED"
    back = xero.get(f"/Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert (back["Status"], back["AmountDue"], back["AmountPaid"]) == ("AUTHORISED", 100.0, 20.0)


def test_authorised_invoice_without_payments_can_be_voided(xero, contact_id):
    invoice = authorised_invoice(xero, contact_id, type_="ACCPAY")
    voided = xero.post(f"/Invoices/{invoice['InvoiceID']}", {"Invoices": [{"Status": "VOIDED"}]})
    assert voided.json()["Invoices"][0]["Status"] == "VOIDED"
    assert xero.post(f"/Invoices/{invoice['InvoiceID']}", {"Invoices": [{"Status": "AUTHORISED"}]}).status_code == 400


def test_payment_against_draft_refused(xero, contact_id):
    draft = xero.put("/Invoices", {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 5, "AccountCode": "200"}]}]}).json()["Invoices"][0]
    assert _pay(xero, draft["InvoiceID"], 1.0).status_code == 400


def test_line_item_ids_update_add_and_delete(xero, contact_id):
    created = xero.put("/Invoices", {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "LineItems": [
        {"Description": "keep", "Quantity": 1, "UnitAmount": 10, "AccountCode": "200"},
        {"Description": "drop", "Quantity": 1, "UnitAmount": 5, "AccountCode": "200"},
    ]}]}).json()["Invoices"][0]
    keep = created["LineItems"][0]["LineItemID"]
    updated = xero.post(f"/Invoices/{created['InvoiceID']}", {"Invoices": [{"LineItems": [
        {"LineItemID": keep, "Description": "kept", "Quantity": 2, "UnitAmount": 10, "AccountCode": "200"},
        {"Description": "new", "Quantity": 1, "UnitAmount": 1, "AccountCode": "200"},
    ]}]}).json()["Invoices"][0]
    assert [line["Description"] for line in updated["LineItems"]] == ["kept", "new"]
    assert updated["LineItems"][0]["LineItemID"] == keep
    assert updated["SubTotal"] == 21.0


def test_tax_is_rounded_per_line_then_summed(xero, contact_id):
    # Three lines of 0.03 (0.025 rounded) at 20 %: 0.006 → 0.01 tax each, 0.03 in all; taxing
    # the 0.09 subtotal instead would give 0.02 (api-notes §6.10).
    lines = [{"Description": f"l{i}", "Quantity": 1, "UnitAmount": 0.0250, "AccountCode": "200", "TaxType": "OUTPUT2"} for i in range(3)]
    response = xero.put("/Invoices", {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "LineItems": lines}]}, query="unitdp=4")
    invoice = response.json()["Invoices"][0]
    assert [line["LineAmount"] for line in invoice["LineItems"]] == [0.03, 0.03, 0.03]
    assert [line["TaxAmount"] for line in invoice["LineItems"]] == [0.01, 0.01, 0.01]
    assert (invoice["SubTotal"], invoice["TotalTax"], invoice["Total"]) == (0.09, 0.03, 0.12)
    assert invoice["LineItems"][0]["UnitAmount"] == 0.025


@pytest.mark.parametrize(
    ("kind", "amounts", "expected"),
    [
        # Exclusive: tax per line 1.67 + 1.67 = 3.34 (taxing 16.66 whole would give 3.33).
        ("Exclusive", ["8.33", "8.33"], ("16.66", "3.34", "20.00")),
        # Inclusive: 10.00 incl. 20 % → tax 1.67 per line, subtotal = total − tax.
        ("Inclusive", ["10.00", "10.00"], ("16.66", "3.34", "20.00")),
        ("NoTax", ["10.00", "10.00"], ("20.00", "0.00", "20.00")),
    ],
)
def test_document_totals_by_line_amount_type(kind, amounts, expected):
    lines = [(Decimal(a), line_tax(Decimal(a), Decimal("20"), kind)) for a in amounts]
    totals = document_totals(lines, kind)
    assert (totals.sub_total, totals.total_tax, totals.total) == tuple(Decimal(e) for e in expected)


def test_inclusive_invoice_through_the_api(xero, contact_id):
    response = xero.put("/Invoices", {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "LineAmountTypes": "Inclusive", "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 20.0, "AccountCode": "200", "TaxType": "OUTPUT2"}]}]})
    invoice = response.json()["Invoices"][0]
    assert (invoice["SubTotal"], invoice["TotalTax"], invoice["Total"]) == (16.67, 3.33, 20.0)


def test_manual_journal_must_balance(xero):
    unbalanced = {"Narration": "Accrual", "JournalLines": [{"LineAmount": 100, "AccountCode": "429"}, {"LineAmount": -10, "AccountCode": "260"}]}
    response = xero.put("/ManualJournals", {"ManualJournals": [unbalanced]})
    assert response.json()["Elements"][0]["ValidationErrors"][0]["Message"] == "The total debits (100.00) must equal total credits (-10.00)"
    unbalanced["JournalLines"][1]["LineAmount"] = -100
    created = xero.put("/ManualJournals", {"ManualJournals": [unbalanced]})
    assert created.status_code == 200 and created.json()["ManualJournals"][0]["LineAmountTypes"] == "NoTax"
    to_bank = {"Narration": "x", "JournalLines": [{"LineAmount": 1, "AccountCode": "090"}, {"LineAmount": -1, "AccountCode": "260"}]}
    assert xero.put("/ManualJournals", {"ManualJournals": [to_bank]}).status_code == 400


def test_credit_note_numbering(xero, contact_id):
    response = xero.put("/CreditNotes", {"CreditNotes": [{"Type": "ACCRECCREDIT", "Contact": {"ContactID": contact_id}, "Status": "AUTHORISED", "LineItems": [{"Description": "refund", "Quantity": 1, "UnitAmount": 10.0, "AccountCode": "200"}]}]})
    note = response.json()["CreditNotes"][0]
    assert note["CreditNoteNumber"] == "CN-0001" and note["RemainingCredit"] == 12.0


def test_tracked_items_move_with_approved_documents(xero, contact_id):
    item = xero.put("/Items", {"Items": [{
        "Code": "TRK-1", "Name": "Tracked", "InventoryAssetAccountCode": "630",
        "PurchaseDetails": {"UnitPrice": 4.0, "COGSAccountCode": "310"},
        "SalesDetails": {"UnitPrice": 10.0, "AccountCode": "200"},
    }]}).json()["Items"][0]
    assert item["IsTrackedAsInventory"] and item["QuantityOnHand"] == 0

    def bill(quantity, unit):
        return xero.put("/Invoices", {"Invoices": [{"Type": "ACCPAY", "Contact": {"ContactID": contact_id}, "Status": "AUTHORISED", "LineItems": [
            {"ItemCode": "TRK-1", "Description": "stock in", "Quantity": quantity, "UnitAmount": unit, "AccountCode": "630", "TaxType": "INPUT2"}]}]})

    assert bill(10, 4.0).status_code == 200
    assert bill(10, 6.0).status_code == 200
    stocked = xero.get(f"/Items/{item['ItemID']}").json()["Items"][0]
    assert (stocked["QuantityOnHand"], stocked["TotalCostPool"]) == (20.0, 100.0)

    sale = {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "Status": "AUTHORISED", "LineItems": [{"ItemCode": "TRK-1", "Quantity": 25}]}
    oversold = xero.put("/Invoices", {"Invoices": [sale]})
    assert oversold.status_code == 400 and "not enough quantity" in oversold.json()["Elements"][0]["ValidationErrors"][0]["Message"]
    # Element by element too: the refused sale leaves no invoice behind, the other one is made.
    service = {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "Status": "AUTHORISED",
               "LineItems": [{"Description": "delivery", "Quantity": 1, "UnitAmount": 15.0, "AccountCode": "200"}]}
    answered = xero.put("/Invoices?summarizeErrors=false", {"Invoices": [sale, service]}).json()["Invoices"]
    assert [bool(i.get("HasErrors")) for i in answered] == [True, False]
    sales = xero.get("/Invoices", params={"where": 'Type=="ACCREC"'}).json()["Invoices"]
    assert [i["InvoiceID"] for i in sales] == [answered[1]["InvoiceID"]]
    sale["LineItems"][0]["Quantity"] = 5
    sold = xero.put("/Invoices", {"Invoices": [sale]}).json()["Invoices"][0]
    after_sale = xero.get(f"/Items/{item['ItemID']}").json()["Items"][0]
    assert (after_sale["QuantityOnHand"], after_sale["TotalCostPool"]) == (15.0, 75.0)  # average cost 5.00

    xero.post(f"/Invoices/{sold['InvoiceID']}", {"Invoices": [{"Status": "VOIDED"}]})
    restored = xero.get(f"/Items/{item['ItemID']}").json()["Items"][0]
    assert (restored["QuantityOnHand"], restored["TotalCostPool"]) == (20.0, 100.0)

    draft = dict(sale, Status="DRAFT")
    xero.put("/Invoices", {"Invoices": [draft]})
    assert xero.get(f"/Items/{item['ItemID']}").json()["Items"][0]["QuantityOnHand"] == 20.0  # drafts do not move stock


def test_approving_a_draft_keeps_four_decimal_unit_amounts_and_tax_overrides(xero, contact_id):
    line = {"Description": "fine", "Quantity": 3, "UnitAmount": 1.2345, "AccountCode": "200", "TaxType": "OUTPUT2", "TaxAmount": 0.70}
    draft = xero.put("/Invoices", {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "LineItems": [line]}]}, query="unitdp=4").json()["Invoices"][0]
    assert draft["LineItems"][0]["LineAmount"] == 3.70 and draft["LineItems"][0]["TaxAmount"] == 0.70  # computed 0.74, overridden
    approved = xero.post(f"/Invoices/{draft['InvoiceID']}", {"Invoices": [{"Status": "AUTHORISED"}]}).json()["Invoices"][0]
    assert approved["Status"] == "AUTHORISED"
    assert (approved["SubTotal"], approved["TotalTax"], approved["Total"]) == (3.70, 0.70, 4.40)


def test_approved_invoices_in_a_batch_flag_their_contacts(xero, contact_id):
    """IsCustomer/IsSupplier follow approved ACCREC/ACCPAY documents, set once at the end of a
    batch; an element that fails flags nothing. Untracked items move no stock."""
    other = xero.put("/Contacts", {"Contacts": [{"Name": "Flagless Ltd"}]}).json()["Contacts"][0]["ContactID"]
    xero.put("/Items", {"Items": [{"Code": "UNT-1", "Name": "Untracked", "SalesDetails": {"UnitPrice": 3.0, "AccountCode": "200"}}]})
    line = {"ItemCode": "UNT-1", "Quantity": 2, "AccountCode": "200"}
    sale = {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "Status": "AUTHORISED", "LineItems": [line]}
    failing = {"Type": "ACCPAY", "Contact": {"ContactID": other}, "Status": "AUTHORISED",
               "LineItems": [dict(line, AccountCode="NOPE")]}
    response = xero.put("/Invoices", {"Invoices": [sale, dict(sale), failing]}, query="summarizeErrors=false")
    assert [row["StatusAttributeString"] for row in response.json()["Invoices"]] == ["OK", "OK", "ERROR"]
    customer = xero.get(f"/Contacts/{contact_id}").json()["Contacts"][0]
    assert customer["IsCustomer"] is True
    assert xero.get(f"/Contacts/{other}").json()["Contacts"][0]["IsSupplier"] is False
    bill = dict(failing, LineItems=[dict(line, AccountCode="429")])
    saved = xero.put("/Invoices", {"Invoices": [bill]}, query="summarizeErrors=false").json()["Invoices"][0]
    assert saved["StatusAttributeString"] == "OK", saved.get("ValidationErrors")
    assert xero.get(f"/Contacts/{other}").json()["Contacts"][0]["IsSupplier"] is True
    assert xero.get("/Items", {"where": 'Code=="UNT-1"'}).json()["Items"][0].get("QuantityOnHand") in (None, 0, 0.0)
