"""Canonical records as plain data for the mapping: what ``dataclasses.asdict`` gives, with the
mapping free to change it without touching the record."""

from __future__ import annotations

import dataclasses

import pytest

from connectors.tims import codecs
from integrations.engine.records import record_data
from tests.connectors.tims.fakes import example


def test_record_data_is_asdict_and_independent_of_the_record():
    order = codecs.decode_sales_order(example("SalesOrder"))
    data = record_data(order)
    assert data == dataclasses.asdict(order)
    assert isinstance(data["lines"], list) and isinstance(data["lines"][0], dict)
    data["lines"][0]["description"] = "changed by a mapping"
    data["lines"].append({})
    assert order.lines[0].description != "changed by a mapping" and len(order.lines) == len(data["lines"]) - 1


def test_record_data_of_a_mapping_is_a_copy():
    source = {"name": "Acme", "tags": ["a"]}
    data = record_data(source)
    assert data == source and data is not source


def test_build_target_structures_a_mapped_payload():
    from datetime import date
    from decimal import Decimal

    from connectors.canonical import ContactRef, Invoice, Line, LineAmountType, TrackingRef
    from integrations.engine.records import build_target

    invoice = build_target("xero", "invoice", {
        "type": "ACCREC", "contact": {"number": "C-1", "unknown": "ignored"}, "date": "2026-11-02T10:00:00",
        "line_amount_types": "Exclusive", "currency_rate": "1.1700000000",
        "lines": [{"quantity": "2", "unit_amount": Decimal("3.50"), "tracking": [{"category": "Region", "option": "North"}]}],
    })
    assert invoice == Invoice(
        type="ACCREC", contact=ContactRef(number="C-1"), date=date(2026, 11, 2), line_amount_types=LineAmountType.EXCLUSIVE,
        currency_rate=Decimal("1.1700000000"),
        lines=[Line(quantity=Decimal("2"), unit_amount=Decimal("3.50"), tracking=[TrackingRef(category="Region", option="North")])],
    )
    assert type(invoice.line_amount_types) is LineAmountType


@pytest.mark.parametrize(("payload", "problem"), [
    ({"type": "ACCREC"}, "required field missing @ invoice.contact"),
    ({"type": "ACCREC", "contact": "Acme Ltd"}, "expected ContactRef @ invoice.contact"),
    ({"type": "ACCREC", "contact": {}, "lines": [{"quantity": "1,000"}]}, "@ invoice.lines[0].quantity"),
    ({"type": "ACCREC", "contact": {}, "line_amount_types": "Gross"}, "@ invoice.line_amount_types"),
    ({"type": "ACCREC", "contact": {}, "date": "2026-13-01"}, "@ invoice.date"),
])
def test_build_target_says_which_field_does_not_fit(payload, problem):
    from integrations.engine.records import TargetBuildError, build_target

    with pytest.raises(TargetBuildError) as raised:
        build_target("xero", "invoice", payload)
    assert str(raised.value).startswith("the mapped invoice does not fit: ") and problem in str(raised.value)
