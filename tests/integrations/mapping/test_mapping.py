"""Mapping sets applied to records: paths, expressions, 1:n lines, value maps, conversions,
defaults, required fields and rules."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from integrations.mapping import expressions
from integrations.mapping.engine import CompiledMapping, Verdict, to_jsonable
from integrations.models import FieldMapping, MappingSet, Rule, ValueMap, ValueMapEntry

pytestmark = pytest.mark.django_db

ORDER = {
    "order_number": "SO-1001",
    "status": "shipped",
    "customer": {"code": "ACME", "name": "Acme Ltd", "email": "ap@acme.test", "payment_terms_days": 30},
    "order_date": "2026-11-02",
    "currency": "GBP",
    "lines": [
        {"sku": "W-1", "description": "Widget", "quantity": "3", "unit_price": "19.99", "category": "Widgets", "tax_code": "S20"},
        {"sku": "D-1", "description": "Delivery", "quantity": "1", "unit_price": "4.50", "category": "Freight", "tax_code": "S20"},
    ],
    "total": "84.47",
}


@pytest.fixture
def orders_to_invoices():
    mapping_set = MappingSet.objects.create(name="Orders", source_system="tims", source_entity="salesorder",
                                            target_system="xero", target_entity="invoice")
    categories = ValueMap.objects.create(name="Category to account code")
    for category, code in (("Widgets", "200"), ("Freight", "260")):
        ValueMapEntry.objects.create(value_map=categories, source_value=category, target_value=code)
    taxes = ValueMap.objects.create(name="Tax code to TaxType")
    ValueMapEntry.objects.create(value_map=taxes, source_value="S20", target_value="OUTPUT2")
    fields = [
        ("number", {"source_path": "order_number", "required": True}),
        ("type", {"default": "ACCREC"}),
        ("contact.number", {"source_path": "customer.code", "required": True}),
        ("contact.name", {"expression": "concat(customer.name, ' (', customer.code, ')')"}),
        ("date", {"source_path": "order_date", "conversion": "date"}),
        ("due_date", {"expression": "add_days(order_date, customer.payment_terms_days)"}),
        ("currency_code", {"source_path": "currency", "default": "GBP"}),
        ("lines[]", {"source_path": "lines"}),
        ("lines[].item_code", {"source_path": "lines[].sku"}),
        ("lines[].description", {"source_path": "description"}),
        ("lines[].quantity", {"source_path": "quantity", "conversion": "decimal"}),
        ("lines[].unit_amount", {"source_path": "unit_price", "conversion": "decimal"}),
        ("lines[].account_code", {"source_path": "category", "value_map": categories, "required": True}),
        ("lines[].tax_type", {"source_path": "tax_code", "value_map": taxes}),
    ]
    for position, (target, options) in enumerate(fields):
        FieldMapping.objects.create(mapping_set=mapping_set, target_field=target, position=position, **options)
    Rule.objects.create(mapping_set=mapping_set, name="Cancelled orders void", condition="status == 'cancelled'",
                        action="void", reason="The order was cancelled in TIMS", position=1)
    Rule.objects.create(mapping_set=mapping_set, name="Zero-value orders", condition="decimal(total) == 0",
                        action="skip", reason="Zero-value order: nothing to invoice", position=2)
    return mapping_set


def test_an_order_becomes_an_invoice(orders_to_invoices):
    outcome = CompiledMapping.from_mapping_set(orders_to_invoices).apply(ORDER)
    assert outcome.verdict == Verdict.SEND and outcome.ok
    payload = outcome.payload
    assert payload["number"] == "SO-1001" and payload["type"] == "ACCREC"
    assert payload["contact"] == {"number": "ACME", "name": "Acme Ltd (ACME)"}
    assert payload["date"] == date(2026, 11, 2) and payload["due_date"] == date(2026, 12, 2)
    assert payload["lines"] == [
        {"item_code": "W-1", "description": "Widget", "quantity": Decimal("3"), "unit_amount": Decimal("19.99"),
         "account_code": "200", "tax_type": "OUTPUT2"},
        {"item_code": "D-1", "description": "Delivery", "quantity": Decimal("1"), "unit_amount": Decimal("4.50"),
         "account_code": "260", "tax_type": "OUTPUT2"},
    ]
    assert to_jsonable(payload)["lines"][0]["unit_amount"] == "19.99"


def test_an_unmapped_category_names_the_value_and_the_line(orders_to_invoices):
    order = {**ORDER, "lines": [ORDER["lines"][0], {**ORDER["lines"][1], "category": "Gadgets"}]}
    outcome = CompiledMapping.from_mapping_set(orders_to_invoices).apply(order)
    assert outcome.verdict == Verdict.REVIEW
    [problem] = outcome.problems
    assert problem.code == "mapping.value_map.missing"
    assert problem.message.startswith("Line 2: \u201cGadgets\u201d has no entry in the value map")
    assert problem.field == "lines[1].account_code"


def test_rules_void_cancelled_orders_and_skip_zero_value_ones(orders_to_invoices):
    mapping = CompiledMapping.from_mapping_set(orders_to_invoices)
    cancelled = mapping.apply({**ORDER, "status": "cancelled"})
    assert (cancelled.verdict, cancelled.reason) == (Verdict.VOID, "The order was cancelled in TIMS")
    free = mapping.apply({**ORDER, "total": "0.00"})
    assert (free.verdict, free.reason) == (Verdict.SKIP, "Zero-value order: nothing to invoice")


def test_required_fields_and_bad_conversions_are_reported_together(orders_to_invoices):
    outcome = CompiledMapping.from_mapping_set(orders_to_invoices).apply(
        {**ORDER, "order_number": "", "order_date": "not a date"})
    assert [p.code for p in outcome.problems] == ["mapping.required", "mapping.conversion", "mapping.expression"]
    assert "due_date" in outcome.problems[2].message  # computed from the unreadable date
    assert "number is required" in outcome.problems[0].message


def test_set_field_rule_and_value_map_default(orders_to_invoices):
    Rule.objects.create(mapping_set=orders_to_invoices, name="Euro reference", condition="currency == 'EUR'",
                        action="set_field", target_field="reference", value_expression="concat('EU-', order_number)",
                        position=3)
    taxes = ValueMap.objects.get(name="Tax code to TaxType")
    taxes.on_missing, taxes.default_value = "default", "NONE"
    taxes.save()
    order = {**ORDER, "currency": "EUR", "lines": [{**ORDER["lines"][0], "tax_code": "Z0"}]}
    outcome = CompiledMapping.from_mapping_set(orders_to_invoices).apply(order)
    assert outcome.payload["reference"] == "EU-SO-1001"
    assert outcome.payload["lines"][0]["tax_type"] == "NONE"


def test_expressions_are_safe_and_exact():
    assert expressions.evaluate("price * 1.1", {"price": Decimal("10.00")}) == Decimal("11.000")
    for hostile in ("__import__('os').system('true')", "price.__class__", "open('/etc/passwd')"):
        with pytest.raises(expressions.ExpressionError):
            expressions.evaluate(hostile, {"price": Decimal("1")})
    with pytest.raises(expressions.ExpressionError, match="cannot read"):
        expressions.check("price *")


def test_run_helpers_join_the_builtins_once_and_refused_literals_stay_refused():
    helpers = expressions.with_builtins({"double": lambda value: value * 2, "upper": lambda value: "own"})
    assert expressions.with_builtins(helpers) is helpers  # merged once, reused for every evaluation
    assert expressions.evaluate("double(price)", {"price": Decimal("2.5")}, helpers) == Decimal("5.0")
    assert expressions.evaluate("upper('x')", {}, helpers) == "own"  # a run's helper wins over a built-in
    assert expressions.evaluate("concat('a', None, 'b')", {}, helpers) == "ab"
    assert expressions.evaluate("[1, True, None, 'a']", {}) == [1, True, None, "a"]
    for refused in ("'" + "x" * 200_000 + "'", "(lambda: 1)()", "price._exp"):
        with pytest.raises(expressions.ExpressionError):
            expressions.evaluate(refused, {"price": Decimal("1")})


def test_only_plain_data_is_spared_the_search_for_modules_and_functions():
    import os

    from connectors.canonical import LineAmountType

    plain_line = {"sku": "A-1", "quantity": Decimal("2"), "shipped": date(2026, 1, 5), "dimensions": [{"n": "Region"}],
                  "amounts": LineAmountType.EXCLUSIVE}
    record = {"lines": [plain_line], "customer": {"name": "Acme"}, "hooks": [{"sku": "B-2", "hook": os}], "evil": [isinstance]}
    trusted = expressions.plain_containers(record)
    assert {id(record["lines"]), id(plain_line), id(plain_line["dimensions"]), id(record["customer"])} <= trusted
    # A container holding a module or a function, and every container above it, is not.
    assert not {id(record), id(record["hooks"]), id(record["hooks"][0]), id(record["evil"])} & trusted
    names = {**record, "record": record}
    assert expressions.evaluate("lines[0]['quantity'] * 2", names, trusted=trusted) == Decimal("4")
    assert expressions.evaluate("customer['name']", names, trusted=trusted) == "Acme"
    for hostile in ("hooks[0]['hook']", "hooks", "evil[0]", "record", "[customer, evil]"):
        with pytest.raises(expressions.ExpressionError):
            expressions.evaluate(hostile, names, trusted=trusted)


money = st.decimals(min_value=Decimal("-100000"), max_value=Decimal("100000"), places=2, allow_nan=False, allow_infinity=False)


# The fixture is only read (one mapping set for every example), never changed.
@hypothesis_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amounts=st.lists(money, min_size=1, max_size=20))
def test_money_never_loses_a_cent(orders_to_invoices, amounts):
    """Whatever the amounts, mapped line amounts add up to exactly the source total."""
    order = {**ORDER, "lines": [{**ORDER["lines"][0], "quantity": "1", "unit_price": str(a)} for a in amounts]}
    outcome = CompiledMapping.from_mapping_set(orders_to_invoices).apply(order)
    mapped = [line["unit_amount"] for line in outcome.payload["lines"]]
    assert mapped == amounts
    assert sum(mapped, Decimal(0)) == sum(amounts, Decimal(0))
    assert all(isinstance(value, Decimal) for value in mapped)
    assert [Decimal(line["unit_amount"]) for line in to_jsonable(outcome.payload)["lines"]] == amounts


def test_admin_refuses_an_expression_that_cannot_be_read(orders_to_invoices):
    from django.core.exceptions import ValidationError

    broken = FieldMapping(mapping_set=orders_to_invoices, target_field="reference", expression="concat(order_number,")
    with pytest.raises(ValidationError, match="cannot read"):
        broken.full_clean()
    rule = Rule(mapping_set=orders_to_invoices, name="x", condition="status ==", action="skip")
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert "condition" in error.value.message_dict
