"""Residual rules: tolerance, write-off, bank fee, exchange difference, part payment and
overpayment, each configurable."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from reconciliation.engine import Band, MatchConfig, ResidualRules, Settlement
from reconciliation.engine.residuals import settle
from tests.reconciliation.engine_builders import decide, invoice, payment

RULES = ResidualRules()


def _settle(pay, targets, *, referenced=True, gateway=False, rules=RULES):
    return settle(pay, [(i, i.open) for i in targets], rules=rules, referenced=referenced, gateway=gateway)


def _allocated(result):
    return sum((a.payment_amount for a in result.allocations), Decimal("0"))


def test_a_rounding_difference_within_tolerance_settles_in_full():
    target = invoice("100.00")
    result = _settle(payment("99.99"), [target])
    assert result.kind is Settlement.EXACT and result.auto_allowed
    assert result.allocations[0].amount == Decimal("100.00") and _allocated(result) == Decimal("99.99")


def test_a_small_underpayment_is_written_off_and_a_larger_one_is_a_part_payment():
    target = invoice("500.00")
    written_off = _settle(payment("499.20"), [target])
    assert written_off.kind is Settlement.WRITE_OFF and written_off.residual == Decimal("-0.80")
    assert written_off.allocations[0].amount == Decimal("500.00")  # the invoice is settled
    part = _settle(payment("480.00"), [target])
    assert part.kind is Settlement.PARTIAL
    assert part.allocations[0].amount == Decimal("480.00")  # the rest stays open


def test_write_off_limits_are_configurable():
    rules = replace(RULES, write_off_max=Decimal("5.00"), write_off_max_ratio=Decimal("0.02"))
    assert _settle(payment("496.00"), [invoice("500.00")], rules=rules).kind is Settlement.WRITE_OFF
    off = replace(RULES, write_off_enabled=False)
    assert _settle(payment("499.50"), [invoice("500.00")], rules=off).kind is Settlement.PARTIAL


def test_a_gateway_payout_net_of_its_fee_settles_the_invoice_only_for_a_gateway():
    target = invoice("200.00")
    net = payment("193.90", name="STRIPE PAYMENTS UK LTD")
    fee = _settle(net, [target], gateway=True)
    assert fee.kind is Settlement.BANK_FEE and fee.auto_allowed and fee.allocations[0].amount == Decimal("200.00")
    assert _settle(net, [target], gateway=False).kind is Settlement.PARTIAL


def test_a_gateway_payout_is_matched_through_its_reference_net_of_fees():
    target = invoice("200.00", number="INV-03131")
    pay = payment("193.90", name="PAYPAL EUROPE SARL", reference="PAYPAL TRANSFER INV-03131")
    decision = decide([target], [pay])[pay.id]
    assert decision.band is Band.AUTO and decision.best.settlement is Settlement.BANK_FEE


def test_an_exchange_difference_settles_a_foreign_invoice_paid_in_the_base_currency():
    target = invoice("1000.00", currency="EUR", base_currency="GBP", base_amount=Decimal("860.00"), number="INV-05150")
    pay = payment("851.40", reference="INV-05150", name="ACME TRADING")
    decision = decide([target], [pay])[pay.id]
    assert decision.band is Band.AUTO and decision.best.settlement is Settlement.FX_DIFFERENCE
    allocation = decision.best.allocations[0]
    assert allocation.amount == Decimal("1000.00") and allocation.payment_amount == Decimal("851.40")
    assert decision.best.residual == Decimal("-8.60")
    too_far = payment("700.00", reference="INV-05150", name="ACME TRADING")
    assert decide([target], [too_far])[too_far.id].band is not Band.AUTO


def test_a_part_payment_is_automatic_only_with_a_unique_reference():
    target = invoice("900.00", number="INV-06000")
    with_reference = payment("300.00", reference="INV-06000", contact="C1")
    decision = decide([target], [with_reference])[with_reference.id]
    assert decision.band is Band.AUTO and decision.best.settlement is Settlement.PARTIAL
    assert decision.best.allocations[0].amount == Decimal("300.00")
    without = payment("300.00", contact="C1")
    decision = decide([target], [without])[without.id]
    assert decision.band is Band.SUGGESTED and decision.best.settlement is Settlement.PARTIAL
    assert any("a third" in r.detail for r in decision.best.reasons)
    strict = MatchConfig(rules=replace(RULES, partial_auto_with_reference=False))
    assert decide([target], [with_reference], strict)[with_reference.id].band is Band.SUGGESTED


def test_two_part_payments_by_reference_share_one_invoice():
    target = invoice("900.00", number="INV-06001")
    first = payment("450.00", reference="INV-06001", contact="C1", days=5)
    second = payment("450.00", reference="INV-06001", contact="C1", days=25)
    decisions = decide([target], [first, second])
    assert decisions[first.id].band is Band.AUTO and decisions[second.id].band is Band.AUTO


def test_an_overpayment_settles_the_invoice_and_leaves_the_excess_unallocated():
    target = invoice("400.00", number="INV-07000")
    pay = payment("450.00", reference="INV-07000", contact="C1")
    decision = decide([target], [pay])[pay.id]
    assert decision.band is Band.AUTO and decision.best.settlement is Settlement.OVERPAYMENT
    assert decision.best.allocated == Decimal("400.00") and decision.best.residual == Decimal("50.00")
    strict = MatchConfig(rules=replace(RULES, overpayment_auto_with_reference=False))
    assert decide([target], [pay], strict)[pay.id].band is Band.SUGGESTED


@pytest.mark.parametrize("paid", ["100.00", "99.50", "60.00", "140.00"])
def test_allocations_never_exceed_the_payment_or_the_invoices(paid):
    targets = [invoice("40.00"), invoice("60.00")]
    result = _settle(payment(paid), targets)
    assert _allocated(result) <= Decimal(paid)
    for allocation, target in zip(result.allocations, targets, strict=False):
        assert 0 < allocation.amount <= target.amount
