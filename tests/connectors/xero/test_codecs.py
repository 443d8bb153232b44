"""Xero JSON ⇄ canonical: MS dates with offsets, Decimal money, the spec's own examples."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from connectors.base import MappingFailed
from connectors.canonical import ContactRef, Invoice, Line, LineAmountType, Payment, TrackingRef
from connectors.http import json_dumps, json_loads
from connectors.xero import codecs

# Trimmed from the getInvoice example of xero_accounting.yaml (/Invoices/{InvoiceID}).
SPEC_INVOICE = b"""{
  "Type": "ACCREC", "InvoiceID": "a03ffcd2-5d91-4c7e-b483-318584e9e439", "InvoiceNumber": "INV-0006",
  "Reference": "Tour", "AmountDue": 0.00, "AmountPaid": 148062.76, "CurrencyRate": 1.000000,
  "Contact": {"ContactID": "430fa14a-f945-44d3-9f97-5df5e28441b8", "Name": "Liam Gallagher"},
  "DateString": "2019-03-07T00:00:00", "Date": "/Date(1551916800000+0000)/",
  "DueDateString": "2019-03-13T00:00:00", "DueDate": "/Date(1552435200000+0000)/",
  "Status": "PAID", "LineAmountTypes": "Exclusive",
  "LineItems": [{"ItemCode": "123", "Description": "Guitars Fender Strat", "UnitAmount": 148062.76,
    "TaxType": "NONE", "TaxAmount": 0.00, "LineAmount": 148062.76, "AccountCode": "200",
    "Tracking": [{"TrackingCategoryID": "e2f2f732-e92a-4f3a-9c4d-ee4da0182a13", "Name": "Region", "Option": "North",
                  "TrackingOptionID": "b1e4c0d8-1b52-4f2c-9a8b-7b0fd5fa5b31"}],
    "Quantity": 1.0000, "LineItemID": "b18f39d9-7739-4246-9288-72afe939d2d5"}],
  "SubTotal": 148062.76, "TotalTax": 0.00, "Total": 148062.76,
  "UpdatedDateUTC": "/Date(1551981568133+0000)/", "CurrencyCode": "NZD"
}"""


def test_ms_datetime_is_an_aware_utc_instant_whatever_the_offset():
    assert codecs.parse_datetime("/Date(1551981568133+0000)/") == datetime(2019, 3, 7, 17, 59, 28, 133000, tzinfo=timezone.utc)
    # The milliseconds are the instant; +1300 only says where the clock was (§5.1).
    assert codecs.parse_datetime("/Date(1419937200000+1300)/") == datetime(2014, 12, 30, 11, 0, tzinfo=timezone.utc)
    assert codecs.parse_datetime("/Date(1439434356790)/").tzinfo is timezone.utc
    assert codecs.parse_datetime("/Date(-86400000)/") == datetime(1969, 12, 31, tzinfo=timezone.utc)
    assert codecs.parse_datetime("2019-03-11T18:42:08Z") == datetime(2019, 3, 11, 18, 42, 8, tzinfo=timezone.utc)
    assert codecs.parse_datetime("2024-06-21T01:15:39.902") == datetime(2024, 6, 21, 1, 15, 39, 902000, tzinfo=timezone.utc)
    assert codecs.parse_datetime(None) is None
    with pytest.raises(MappingFailed):
        codecs.parse_datetime("/Date(abc)/")


def test_ms_date_keeps_the_calendar_date_of_its_offset():
    # 2014-12-30T11:00Z is already 31 December in New Zealand (+1300): the date is the 31st.
    assert codecs.parse_date("/Date(1419937200000+1300)/") == date(2014, 12, 31)
    assert codecs.parse_date("/Date(1419937200000-0500)/") == date(2014, 12, 30)
    assert codecs.parse_date("/Date(1551916800000+0000)/") == date(2019, 3, 7)
    # The ISO sibling wins when there is one.
    assert codecs.parse_date("/Date(1551916800000+0000)/", "2019-03-08T00:00:00") == date(2019, 3, 8)
    assert codecs.parse_date("2019-03-07") == date(2019, 3, 7)
    with pytest.raises(MappingFailed):
        codecs.parse_date("next tuesday")


def test_modified_since_is_utc_to_the_second():
    from datetime import timedelta

    nz = timezone(timedelta(hours=13))
    assert codecs.format_modified_since(datetime(2020, 2, 7, 1, 17, 43, 900, tzinfo=nz)) == "2020-02-06T12:17:43"
    with pytest.raises(ValueError):
        codecs.format_modified_since(datetime(2020, 2, 7))


def test_decode_the_spec_invoice():
    invoice = codecs.decode_invoice(json_loads(SPEC_INVOICE))
    assert invoice.remote_id == "a03ffcd2-5d91-4c7e-b483-318584e9e439"
    assert invoice.type == "ACCREC" and invoice.number == "INV-0006" and invoice.status == "PAID"
    assert invoice.contact == ContactRef(remote_id="430fa14a-f945-44d3-9f97-5df5e28441b8", name="Liam Gallagher")
    assert invoice.date == date(2019, 3, 7) and invoice.due_date == date(2019, 3, 13)
    assert invoice.total == Decimal("148062.76") and isinstance(invoice.total, Decimal)
    assert invoice.amount_paid == Decimal("148062.76") and invoice.currency_rate == Decimal("1.000000")
    assert invoice.line_amount_types is LineAmountType.EXCLUSIVE and invoice.currency_code == "NZD"
    line = invoice.lines[0]
    assert line.quantity == Decimal("1.0000") and line.unit_amount == Decimal("148062.76")
    assert line.remote_id == "b18f39d9-7739-4246-9288-72afe939d2d5"
    assert line.tracking[0].option == "North"
    assert invoice.updated_at == datetime(2019, 3, 7, 17, 59, 28, 133000, tzinfo=timezone.utc)


def test_decode_refuses_floats_and_missing_ids():
    with pytest.raises(MappingFailed):
        codecs.decode_invoice({"Type": "ACCREC", "InvoiceID": "x", "Total": 1.5})
    with pytest.raises(MappingFailed):
        codecs.decode_invoice({"Type": "ACCREC"})
    with pytest.raises(MappingFailed):
        codecs.decode_invoice({"Type": "ACCREC", "InvoiceID": "x", "LineAmountTypes": "Sometimes"})


def test_encode_invoice_sends_what_xero_wants_and_nothing_read_only():
    invoice = Invoice(
        type="ACCPAY",
        contact=ContactRef(remote_id="c-1", name="ignored when the id is known"),
        number="BILL-1",
        date=date(2026, 11, 2),
        due_date=date(2026, 12, 2),
        line_amount_types=LineAmountType.INCLUSIVE,
        currency_code="USD",
        currency_rate=Decimal("0.612345"),
        total=Decimal("999"),  # computed by Xero: never sent
        lines=[
            Line(description="Stems", quantity=Decimal("3"), unit_amount=Decimal("1.2345"), account_code="310", tax_type="INPUT2", tracking=[TrackingRef(category="Region", option="North")]),
            Line(description="Freight", quantity=Decimal("1"), unit_amount=Decimal("0"), remote_id="li-2", tracking=[TrackingRef(category_id="tc", option_id="to", category="Region")]),
        ],
    )
    body = codecs.encode_invoice(invoice)
    assert body == {
        "Type": "ACCPAY",
        "Contact": {"ContactID": "c-1"},
        "InvoiceNumber": "BILL-1",
        "Date": "2026-11-02",
        "DueDate": "2026-12-02",
        "LineAmountTypes": "Inclusive",
        "CurrencyCode": "USD",
        "CurrencyRate": Decimal("0.612345"),
        "LineItems": [
            {"Description": "Stems", "Quantity": Decimal("3"), "UnitAmount": Decimal("1.2345"), "AccountCode": "310", "TaxType": "INPUT2", "Tracking": [{"Name": "Region", "Option": "North"}]},
            {"LineItemID": "li-2", "Description": "Freight", "Quantity": Decimal("1"), "UnitAmount": Decimal("0"), "Tracking": [{"TrackingCategoryID": "tc", "TrackingOptionID": "to"}]},
        ],
    }
    assert '"UnitAmount":1.2345' in json_dumps(body)


def test_invoice_round_trip_through_json():
    original = codecs.decode_invoice(json_loads(SPEC_INVOICE))
    again = codecs.decode_invoice({**json_loads(json_dumps(codecs.encode_invoice(original))), "InvoiceID": original.remote_id, "DateString": None})
    # Tracking goes out by ids alone when both are known, so the names do not come back.
    for line in original.lines:
        line.tracking = [TrackingRef(category_id=t.category_id, option_id=t.option_id) for t in line.tracking]
    assert again.lines == original.lines and again.date == original.date and again.contact.remote_id == original.contact.remote_id


def test_contact_ref_prefers_id_then_number_then_name():
    assert codecs.encode_contact_ref(ContactRef(remote_id="i", number="n", name="x")) == {"ContactID": "i"}
    assert codecs.encode_contact_ref(ContactRef(number="n", name="x")) == {"ContactNumber": "n"}
    assert codecs.encode_contact_ref(ContactRef(name="x")) == {"Name": "x"}
    assert codecs.encode_contact_ref(ContactRef()) == {}


def test_payment_encoding_and_decoding():
    body = codecs.encode_payment(Payment(amount=Decimal("32.00"), date=date(2026, 11, 3), invoice_number="INV-1", account_code="090", reference="r", is_reconciled=False))
    assert body == {"Invoice": {"InvoiceNumber": "INV-1"}, "Account": {"Code": "090"}, "Date": "2026-11-03", "Amount": Decimal("32.00"), "Reference": "r", "IsReconciled": False}
    with pytest.raises(MappingFailed):
        codecs.encode_payment(Payment(amount=Decimal("1"), date=date(2026, 1, 1), account_code="090"))
    # From the getPayment example of the spec.
    payment = codecs.decode_payment(json_loads(b"""{"PaymentID": "99ea7f6b-c2ab-4a3e-bc9a-b4bf4d6b5d80",
        "Date": "/Date(1552953600000+0000)/", "BankAmount": 2.00, "Amount": 2.00, "CurrencyRate": 1.000000,
        "PaymentType": "ACCRECPAYMENT", "Status": "AUTHORISED", "UpdatedDateUTC": "/Date(1552521420010+0000)/",
        "IsReconciled": false, "Account": {"AccountID": "5690f1e8-1d00-4893-90c7-05530c1ba9e9", "Code": "970"},
        "Invoice": {"InvoiceID": "c7c37b83-ac95-45ea-88ba-8ad83a5f22fe", "InvoiceNumber": "INV-0004"}}"""))
    assert payment.amount == Decimal("2.00") and payment.date == date(2019, 3, 19)
    assert payment.invoice_number == "INV-0004" and payment.account_code == "970" and payment.is_reconciled is False


def test_manual_journal_keeps_zero_and_negative_amounts():
    from connectors.canonical import JournalLine, ManualJournal

    body = codecs.encode_manual_journal(ManualJournal(narration="n", lines=[JournalLine("400", Decimal("0.00")), JournalLine("800", Decimal("-5.00"))], show_on_cash_basis_reports=False))
    assert body["JournalLines"] == [{"LineAmount": Decimal("0.00"), "AccountCode": "400"}, {"LineAmount": Decimal("-5.00"), "AccountCode": "800"}]
    assert body["ShowOnCashBasisReports"] is False


def test_contact_item_and_bank_transaction_round_trips():
    from connectors.canonical import Address, BankTransaction, Contact, Item, ItemPriceDetails, Phone

    contact = Contact(name="Maple", number="C-1", addresses=[Address(kind="STREET", lines=["1 Main St", "Unit 2"], city="Wellington", country="NZ")], phones=[Phone(kind="DEFAULT", number="555")])
    decoded = codecs.decode_contact({**codecs.encode_contact(contact), "ContactID": "c"})
    assert decoded.addresses == contact.addresses and decoded.phones == contact.phones and decoded.number == "C-1"
    item = Item(code="I-1", is_sold=False, purchase=ItemPriceDetails(unit_price=Decimal("2.5000"), cogs_account_code="310"), inventory_asset_account_code="630")
    assert codecs.decode_item({**codecs.encode_item(item), "ItemID": "i"}).purchase == item.purchase
    assert codecs.encode_item(item)["IsSold"] is False
    txn = BankTransaction(type="RECEIVE", bank_account_id="acc", lines=[Line(description="x", unit_amount=Decimal("1.00"))], is_reconciled=True)
    body = codecs.encode_bank_transaction(txn)
    assert body["BankAccount"] == {"AccountID": "acc"} and body["IsReconciled"] is True
    assert codecs.decode_bank_transaction({**body, "BankTransactionID": "b"}).lines == txn.lines
