"""Line and document totals the way Xero computes them (api-notes §6.2, §6.10).

Tax is computed per line, rounded to 2 dp, then summed; line amounts and totals are 2 dp; only
unit amounts may carry 4 dp. ``Exclusive`` lines are net of tax, ``Inclusive`` lines include
it, ``NoTax`` lines carry none.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HUNDRED = Decimal("100")


class LineAmountTypes:
    EXCLUSIVE = "Exclusive"
    INCLUSIVE = "Inclusive"
    NO_TAX = "NoTax"
    ALL = (EXCLUSIVE, INCLUSIVE, NO_TAX)


def round_money(value: Decimal) -> Decimal:
    # Half away from zero, as Xero rounds on screen and in the API.
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def round_unit(value: Decimal, unitdp: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-unitdp), rounding=ROUND_HALF_UP)


def line_amount(quantity: Decimal, unit_amount: Decimal, discount_rate: Decimal | None) -> Decimal:
    """LineAmount = Quantity × UnitAmount × (100 − DiscountRate) / 100, to 2 dp."""
    gross = quantity * unit_amount
    if discount_rate:
        gross = gross * (HUNDRED - discount_rate) / HUNDRED
    return round_money(gross)


def line_tax(amount: Decimal, rate_percent: Decimal, line_amount_types: str) -> Decimal:
    if line_amount_types == LineAmountTypes.NO_TAX or not rate_percent:
        return Decimal("0.00")
    if line_amount_types == LineAmountTypes.INCLUSIVE:
        return round_money(amount * rate_percent / (HUNDRED + rate_percent))
    return round_money(amount * rate_percent / HUNDRED)


@dataclass(frozen=True)
class Totals:
    sub_total: Decimal
    total_tax: Decimal
    total: Decimal


def document_totals(lines: list[tuple[Decimal, Decimal]], line_amount_types: str) -> Totals:
    """``lines`` are (LineAmount, TaxAmount) pairs, already rounded per line."""
    amounts = sum((amount for amount, _ in lines), Decimal("0.00"))
    tax = sum((tax for _, tax in lines), Decimal("0.00"))
    if line_amount_types == LineAmountTypes.INCLUSIVE:
        return Totals(sub_total=amounts - tax, total_tax=tax, total=amounts)
    return Totals(sub_total=amounts, total_tax=tax, total=amounts + tax)
