"""TIMS JSON ⇄ canonical: the contract's own examples decode exactly, encoders send only what
the request schemas define, and money never gains or loses a digit (property tests)."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import MappingFailed
from connectors.canonical import Address, ContactPerson, Customer, PaymentAllocation, PaymentTerms, Product, ReceivablePayment
from connectors.http import json_dumps, json_loads
from connectors.tims import codecs
from tests.connectors.tims.fakes import example


def test_the_contract_customer_example():
    customer = codecs.decode_customer(example("Customer"))
    assert customer.remote_id == "cus_01HZX3J8Q5W7KQ2M9N4P6R8T0V" and customer.version == 7
    assert customer.code == "C004512" and customer.currency == "GBP"
    assert customer.credit_limit == Decimal("25000.00") and customer.balance == Decimal("4310.40")
    assert customer.updated_at == datetime(2026, 11, 20, 14, 3, 27, 512034, tzinfo=timezone.utc)
    assert customer.payment_terms == PaymentTerms(kind="net", days=30)
    assert customer.shipping_address.attention_to == "Goods in" and customer.shipping_address.lines == ["Unit 3 Holbeck Yard"]
    assert customer.external_refs == {"xero": "6b9d0e5c-2f5f-4a1e-9a7c-0b7f6f1c2d3e"}
    assert customer.last_modified_by.kind == "user" and customer.contacts[0] == ContactPerson(
        name="Priya Shah", email="priya@northernwelding.example", role="Accounts payable", is_primary=True)
    assert customer.state_key == ("cus_01HZX3J8Q5W7KQ2M9N4P6R8T0V", 7)


def test_documents_keep_every_amount_and_their_totals_add_up():
    order = codecs.decode_sales_order(example("SalesOrder"))
    assert sum(line.line_total for line in order.lines) == order.subtotal
    assert sum(line.tax_amount for line in order.lines) == order.tax_total == order.tax_totals[0].tax_amount
    assert order.subtotal + order.tax_total == order.total == Decimal("225.12")
    assert order.lines[1].sku == "" and order.lines[1].line_type == "fee"
    assert [s.status for s in order.status_history] == ["open", "allocated", "shipped"]
    bill = codecs.decode_vendor_bill(example("VendorBill"))
    assert bill.exchange_rate == Decimal("1.1540") and bill.currency == "EUR" and bill.base_currency == "GBP"
    assert bill.lines[0].unit_cost == Decimal("24.4600") and bill.lines[0].purchase_order_line_number == 1
    assert bill.amount_due == Decimal("978.40") and bill.memo == ""
    invoice = codecs.decode_receivable_invoice(example("ReceivableInvoice"))
    assert invoice.number == "INV-104233" and invoice.sales_order_id == order.remote_id and invoice.external_settlement is None
    assert invoice.due_date == date(2026, 12, 20)


def test_ledger_stock_and_dimensions():
    entry = codecs.decode_gl_entry(example("GlEntry"))
    assert entry.is_balanced and [line.amount for line in entry.lines] == [Decimal("43.28"), Decimal("-43.28")]
    assert entry.source_document.kind == "inventory_adjustment" and entry.lines[0].dimensions[0].value_code == "HULL"
    entry.lines[0].debit = Decimal("43.29")
    assert not entry.is_balanced
    adjustment = codecs.decode_inventory_adjustment(example("InventoryAdjustment"))
    assert adjustment.quantity_delta == Decimal("-2") and adjustment.total_cost == Decimal("-43.28")
    assert adjustment.quantity_delta * adjustment.unit_cost == adjustment.total_cost
    level = codecs.decode_inventory_level(example("InventoryLevel"))
    assert level.on_hand == sum(w.on_hand for w in level.warehouses) == Decimal("212")
    payment = codecs.decode_payment(example("Payment"))
    assert payment.allocations == [PaymentAllocation(invoice_id="inv_01J9Q3A5C7E9G1J3L5N7Q9S1U3", amount=Decimal("225.12"), invoice_number="INV-104233")]
    assert payment.last_modified_by.kind == "api_client"  # our own write: the echo to skip
    assert codecs.decode_dimension(example("Dimension")).applies_to == ["sales", "purchases", "inventory", "gl"]
    assert codecs.decode_dimension_value(example("DimensionValue")).parent_value_id == ""


def test_unknown_response_fields_are_ignored():
    record = {**example("Product"), "a_field_from_v1_1": {"nested": True}}
    assert codecs.decode_product(record).sku == "OX-300-CYL"


@pytest.mark.parametrize("bad", [12.5, "12,50", "1e3", "NaN", "Infinity", "", None, True, Decimal("NaN"), "12.50\n3", "+1"])
def test_money_that_is_not_a_decimal_string_is_refused(bad):
    with pytest.raises(MappingFailed):
        codecs.parse_decimal(bad)


class _Text(str):
    pass


@pytest.mark.parametrize(("good", "amount"), [(" 12.50 ", "12.50"), ("-0.005", "-0.005"), (7, "7"),
                                              (Decimal("3.10"), "3.10"), (_Text("4.20"), "4.20")])
def test_money_as_a_decimal_string_or_an_exact_number_is_read_exactly(good, amount):
    parsed = codecs.parse_decimal(good)
    assert isinstance(parsed, Decimal) and str(parsed) == amount


def test_timestamps_must_carry_an_offset_and_become_utc():
    assert codecs.parse_datetime("2026-11-20T15:03:27.5120349+01:00") == datetime(2026, 11, 20, 14, 3, 27, 512034, tzinfo=timezone.utc)
    with pytest.raises(MappingFailed):
        codecs.parse_datetime("2026-11-20T14:03:27")
    with pytest.raises(MappingFailed):
        codecs.parse_date("20/11/2026")
    with pytest.raises(ValueError):
        codecs.format_datetime(datetime(2026, 11, 20, 14, 3))
    assert codecs.format_datetime(datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)) == "2026-11-20T15:00:00.000000Z"


def test_a_record_without_its_id_is_a_mapping_failure_naming_what_is_missing():
    record = example("Customer")
    del record["id"]
    with pytest.raises(MappingFailed, match="no id"):
        codecs.decode_customer(record)


def test_encode_customer_for_create_and_for_patch():
    customer = Customer(
        name="Leeds Gas Ltd", currency="GBP", code="C1", tax_exempt=False, credit_limit=Decimal("1000.5"),
        billing_address=Address(lines=["1 Road", "Unit 2"], city="Leeds", country="GB", attention_to="AP"),
        contacts=[ContactPerson(name="Ann")], external_refs={"xero": "x-1"}, remote_id="cus_1", version=3,
    )
    created = codecs.encode_customer(customer)
    assert created == {
        "customer_code": "C1", "name": "Leeds Gas Ltd", "tax_exempt": False, "currency": "GBP", "credit_limit": "1000.5",
        "billing_address": {"line1": "1 Road", "line2": "Unit 2", "attention": "AP", "city": "Leeds", "country": "GB"},
        "contacts": [{"name": "Ann", "is_primary": False}], "external_refs": {"xero": "x-1"},
    }
    patch = codecs.encode_customer(customer, create=False)
    assert "customer_code" not in patch and "external_refs" not in patch and "id" not in patch
    too_long = Address(lines=["1", "2", "3", "4"])
    with pytest.raises(MappingFailed, match="3 lines"):
        codecs.encode_address(too_long)


def test_payment_bodies():
    payment = ReceivablePayment(customer_id="cus_1", payment_date=date(2026, 11, 24), amount=Decimal("225.12"), currency="GBP",
                                method="bank_transfer", allocations=[PaymentAllocation("inv_1", Decimal("225.120"))],
                                external_refs={"xero": "p-1"})
    body = codecs.encode_payment(payment)
    assert body == {"customer_id": "cus_1", "payment_date": "2026-11-24", "amount": "225.12", "currency": "GBP", "method": "bank_transfer",
                    "allocations": [{"invoice_id": "inv_1", "amount": "225.12"}], "external_refs": {"xero": "p-1"}}
    assert set(codecs.encode_payment(payment, for_invoice=True)) == {"payment_date", "amount", "currency", "method", "external_refs"}


def test_money_with_more_digits_than_its_currency_is_refused_not_rounded():
    assert codecs.format_money(Decimal("10.500"), "GBP") == "10.50"  # trailing zeros are exact
    with pytest.raises(MappingFailed, match="refusing to round"):
        codecs.format_money(Decimal("10.505"), "GBP")
    with pytest.raises(MappingFailed):
        codecs.format_money(Decimal("1250.5"), "JPY")
    assert codecs.format_money(Decimal("1.250"), "KWD") == "1.250"
    assert codecs.format_money(Decimal("-0.00"), "GBP") == "0.00"
    with pytest.raises(MappingFailed):
        codecs.format_money(1.5, "GBP")  # a float never reaches a body
    product = Product(sku="X", sale_price=Decimal("0.0000005"))
    with pytest.raises(MappingFailed, match="6 decimals"):
        codecs.encode_product(product)


# --- Properties --------------------------------------------------------------------------------------

CURRENCIES = st.sampled_from(["GBP", "EUR", "USD", "JPY", "KWD", "CLF"])


@st.composite
def money_in(draw):
    currency = draw(CURRENCIES)
    places = codecs.minor_units(currency)
    units = draw(st.integers(min_value=-(10**15) + 1, max_value=10**15 - 1))
    return currency, Decimal(units).scaleb(-places)


@given(money_in())
def test_money_survives_the_round_trip_digit_for_digit(pair):
    currency, amount = pair
    text = codecs.format_money(amount, currency)
    assert codecs.parse_decimal(text) == amount
    assert "e" not in text.lower()
    assert ("." in text) == (codecs.minor_units(currency) > 0)
    # Through the wire: our JSON writer and reader, as the request and the response carry it.
    wire = json_loads(json_dumps({"amount": text}))["amount"]
    assert codecs.parse_decimal(wire) == amount


@given(st.lists(money_in().filter(lambda p: p[0] == "GBP").map(lambda p: p[1]), min_size=1, max_size=40))
def test_decoded_lines_sum_to_the_cent(amounts):
    lines = [{**example("SalesOrder")["lines"][0], "line_number": n + 1, "line_total": codecs.format_money(a, "GBP")} for n, a in enumerate(amounts)]
    order = {**example("SalesOrder"), "lines": lines, "subtotal": codecs.format_money(sum(amounts, Decimal(0)), "GBP")}
    decoded = codecs.decode_sales_order(json.loads(json.dumps(order)))
    assert sum((line.line_total for line in decoded.lines), Decimal(0)) == decoded.subtotal == sum(amounts, Decimal(0))


@given(st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=Decimal("-1e12"), max_value=Decimal("1e12")))
def test_unit_prices_keep_all_six_decimals(price):
    assert codecs.parse_decimal(codecs.format_decimal(price, codecs.UNIT_PRICE_PLACES)) == price


@given(st.decimals(allow_nan=False, allow_infinity=False, places=8, min_value=Decimal("-1e6"), max_value=Decimal("1e6")))
def test_an_amount_is_either_sent_exactly_or_refused(amount):
    try:
        text = codecs.format_money(amount, "GBP")
    except MappingFailed:
        assert amount != amount.quantize(Decimal("0.01"))
    else:
        assert Decimal(text) == amount
