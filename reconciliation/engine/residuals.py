"""Residual rules: what a payment leaves over or short against the invoices it settles.

Each rule is explicit and configurable (``ResidualRules``), after Odoo's reconcile models and
ERPNext's exchange difference: a rounding difference inside the tolerance, a small
underpayment written off, a gateway payout net of its fee, an exchange difference on a
foreign-currency invoice, a partial payment (the invoice stays open) and an overpayment (the
excess stays unallocated, a credit). The result says how to allocate and whether a machine may
do it alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from reconciliation.engine.config import (
    AMOUNT_BANK_FEE, AMOUNT_EXACT, AMOUNT_FX, AMOUNT_OVER, AMOUNT_PARTIAL, AMOUNT_WRITE_OFF, ResidualRules,
)
from reconciliation.engine.documents import Allocation, Invoice, Payment, Settlement

ZERO = Decimal("0")
CURRENCY_DECIMALS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}

AMOUNT_CODE = {
    Settlement.EXACT: AMOUNT_EXACT,
    Settlement.WRITE_OFF: AMOUNT_WRITE_OFF,
    Settlement.BANK_FEE: AMOUNT_BANK_FEE,
    Settlement.FX_DIFFERENCE: AMOUNT_FX,
    Settlement.PARTIAL: AMOUNT_PARTIAL,
    Settlement.OVERPAYMENT: AMOUNT_OVER,
}
WITHIN_TOLERANCE = frozenset({Settlement.EXACT, Settlement.WRITE_OFF, Settlement.BANK_FEE, Settlement.FX_DIFFERENCE})


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-CURRENCY_DECIMALS.get(currency, 2))


def money(value: Decimal, currency: str) -> Decimal:
    return value.quantize(quantum(currency), rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class SettlementResult:
    kind: Settlement
    allocations: tuple[Allocation, ...]
    residual: Decimal  # payment currency: paid minus asked
    auto_allowed: bool
    detail: str


def in_payment_currency(payment: Payment, invoice: Invoice, amount: Decimal) -> Decimal | None:
    """``amount`` of ``invoice`` in the payment's currency: the same, or at the invoice's own
    rate to its base currency. None when the currencies cannot be compared."""
    if invoice.currency == payment.currency:
        return amount
    if invoice.base_currency == payment.currency and invoice.base_amount and invoice.amount:
        return amount * invoice.base_amount / invoice.amount
    return None


def settle(
    payment: Payment,
    targets: Sequence[tuple[Invoice, Decimal]],
    *,
    rules: ResidualRules,
    referenced: bool,
    gateway: bool,
) -> SettlementResult | None:
    """Allocate ``payment`` to ``targets`` ((invoice, open amount) in the order to fill) and
    classify the remainder. None when nothing can be allocated."""
    if not targets:
        return None
    asked = []
    for invoice, open_amount in targets:
        converted = in_payment_currency(payment, invoice, open_amount)
        if converted is None or open_amount <= 0:
            return None
        asked.append(converted)
    total = sum(asked, ZERO)
    paid = payment.amount
    diff = paid - total
    count = len(targets)
    foreign = any(invoice.currency != payment.currency for invoice, _ in targets)
    tolerance = rules.tolerance_for(payment.currency) * count
    currency = payment.currency

    def settled_in_full(kind: Settlement, auto: bool, detail: str) -> SettlementResult:
        # Every invoice is settled in full; the payment is shared in proportion, the last
        # share taking the rounding, so the shares add up to exactly what was paid (or to what
        # was asked, when the payment is over by a rounding difference).
        spend = min(paid, total)
        allocations = []
        remaining = spend
        for position, ((invoice, open_amount), share) in enumerate(zip(targets, asked, strict=True)):
            if position == count - 1:
                part = remaining
            else:
                part = money(spend * share / total, currency) if total else ZERO
                remaining -= part
            if part > 0:
                allocations.append(Allocation(invoice.id, open_amount, part))
        return SettlementResult(kind, tuple(allocations), diff, auto, detail)

    if abs(diff) <= tolerance:
        return settled_in_full(Settlement.EXACT, True, "paid in full" if diff == 0 else f"rounding difference {diff}")
    if foreign and rules.fx_enabled and abs(diff) <= rules.fx_max_ratio * total:
        return settled_in_full(Settlement.FX_DIFFERENCE, rules.fx_auto, f"exchange difference {money(diff, currency)} {currency}")
    if diff < 0:
        short = -diff
        if rules.write_off_enabled and short <= rules.write_off_max and short <= rules.write_off_max_ratio * total:
            return settled_in_full(Settlement.WRITE_OFF, rules.write_off_auto, f"{money(short, currency)} {currency} written off")
        fee_limit = rules.bank_fee_max_ratio * total + rules.bank_fee_fixed * count
        if gateway and rules.bank_fee_enabled and short <= fee_limit:
            return settled_in_full(Settlement.BANK_FEE, rules.bank_fee_auto, f"{money(short, currency)} {currency} gateway fee")
        if not rules.partial_enabled:
            return None
        allocations = []
        remaining = paid
        for (invoice, open_amount), share in zip(targets, asked, strict=True):
            if remaining <= 0:
                break
            part = min(share, remaining)
            amount = open_amount if part == share else money(part * open_amount / share, invoice.currency)
            if part > 0 and amount > 0:
                allocations.append(Allocation(invoice.id, min(amount, open_amount), part))
            remaining -= part
        auto = rules.partial_auto_with_reference and referenced and count == 1 and not foreign
        return SettlementResult(Settlement.PARTIAL, tuple(allocations), diff, auto, f"part payment; {money(short, currency)} {currency} stays open")
    if not rules.overpayment_enabled:
        return None
    result = settled_in_full(Settlement.OVERPAYMENT, False, "")
    auto = rules.overpayment_auto_with_reference and referenced and not foreign
    return SettlementResult(
        Settlement.OVERPAYMENT, result.allocations, diff, auto, f"overpaid by {money(diff, currency)} {currency}, left unallocated"
    )
