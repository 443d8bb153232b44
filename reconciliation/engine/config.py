"""Every threshold, tolerance and weight of the matching engine, in one validated object.

Weights are log-likelihood ratios in the Fellegi–Sunter sense: each feature adds how much
more likely its value is among true pairs than among random ones. They are set by hand from
the cases the generator and the research notes describe (a reference hit is decisive, an exact
amount alone is weak because amounts repeat) and can be refitted per tenant on confirmed and
rejected matches. The sum plus ``prior`` goes through a logistic function, so a score reads as
a probability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

# Categories of each pair feature. The engine stores them as small integers in numpy arrays.
REF_NONE, REF_DIGITS, REF_STRONG, REF_ID = 0, 1, 2, 3
AMOUNT_EXACT, AMOUNT_WRITE_OFF, AMOUNT_BANK_FEE, AMOUNT_FX, AMOUNT_PARTIAL, AMOUNT_OVER, AMOUNT_MISMATCH = range(7)
CONTACT_UNKNOWN, CONTACT_ID, CONTACT_NAME, CONTACT_FUZZY, CONTACT_MISMATCH, CONTACT_WEAK = range(6)
DATE_NORMAL, DATE_LATE, DATE_EARLY, DATE_VERY_LATE = range(4)


@dataclass(frozen=True)
class Weights:
    """Log-odds added by each feature value (see the module docstring)."""

    prior: float = -4.0
    reference: tuple[float, ...] = (0.0, 5.0, 7.0, 8.0)  # none, bare digits, invoice number, id link
    reference_elsewhere: float = -3.0  # the reference names another invoice, not this one
    amount: tuple[float, ...] = (4.0, 2.5, 2.5, 2.5, -1.0, -1.5, -6.0)
    contact: tuple[float, ...] = (0.0, 3.0, 2.5, 1.5, -3.0, 0.0)
    date: tuple[float, ...] = (0.5, 0.0, -2.0, -1.5)
    subset_unique: float = 2.0  # one group of invoices, and only one, adds up to the payment
    subset_per_extra_invoice: float = -0.25
    instalment: float = 1.5  # a part payment of exactly a half, a third, a quarter... of the invoice


@dataclass(frozen=True)
class ResidualRules:
    """What may remain between a payment and the invoices it settles, and whether that
    remainder may be settled without a person (``*_auto``)."""

    tolerance: Decimal = Decimal("0.01")  # per invoice: Xero rounds tax per line
    tolerance_by_currency: dict[str, Decimal] = field(default_factory=lambda: {"JPY": Decimal("1"), "KRW": Decimal("1")})
    write_off_enabled: bool = True
    write_off_max: Decimal = Decimal("1.00")  # an underpayment up to this, and up to the ratio, is written off
    write_off_max_ratio: Decimal = Decimal("0.01")
    write_off_auto: bool = True
    bank_fee_enabled: bool = True  # gateway payouts arrive net of fees
    bank_fee_max_ratio: Decimal = Decimal("0.035")
    bank_fee_fixed: Decimal = Decimal("0.50")  # per invoice (charge)
    bank_fee_auto: bool = True
    fx_enabled: bool = True  # payment in the base currency of a foreign-currency invoice
    fx_max_ratio: Decimal = Decimal("0.03")
    fx_auto: bool = True
    partial_enabled: bool = True
    partial_auto_with_reference: bool = True  # only with a unique reference to one invoice
    overpayment_enabled: bool = True
    overpayment_auto_with_reference: bool = True  # the excess stays unallocated (a credit)

    def tolerance_for(self, currency: str) -> Decimal:
        return self.tolerance_by_currency.get(currency, self.tolerance)


GATEWAY_KEYWORDS = ("STRIPE", "PAYPAL", "GOCARDLESS", "ADYEN", "SQUARE", "SUMUP", "WORLDPAY", "BRAINTREE", "CHECKOUT COM", "KLARNA")


@dataclass(frozen=True)
class MatchConfig:
    weights: Weights = field(default_factory=Weights)
    rules: ResidualRules = field(default_factory=ResidualRules)
    auto_threshold: float = 0.95
    suggest_threshold: float = 0.05
    # Auto only when giving up the chosen pairing costs at least this much log-odds: two
    # candidates that tie (or nearly) are never decided by the machine.
    auto_margin: float = 2.0
    max_suggestions: int = 3
    # A single invoice this likely (and within tolerance) rivals any group for the payment.
    plausible_threshold: float = 0.5
    max_candidates: int = 20  # per payment, the best by score; the rest are never looked at
    max_window: int = 64  # invoices of one amount beyond which an amount alone proposes nothing
    subset_max_size: int = 5
    subset_max_candidates: int = 16  # the contact's most recent open invoices searched for a group
    # The date window of blocking: a payment is compared with invoices issued up to
    # ``days_before_issue`` after it, and due up to ``days_after_due`` before it.
    days_before_issue: int = 7
    days_after_due: int = 365
    days_late: int = 60  # beyond due + this, the date feature says "late"
    days_very_late: int = 180
    default_terms_days: int = 30  # due date of an invoice that has none
    name_fuzzy_threshold: float = 88.0
    name_mismatch_threshold: float = 60.0
    name_prefix_min_length: int = 6  # banks truncate names; a prefix this long may resolve one
    gateway_keywords: tuple[str, ...] = GATEWAY_KEYWORDS

    def __post_init__(self) -> None:
        if not 0 < self.suggest_threshold < self.auto_threshold < 1:
            raise ValueError("Need 0 < suggest_threshold < auto_threshold < 1.")
        if self.auto_margin < 0 or self.max_suggestions < 1 or not 1 <= self.subset_max_size <= 6:
            raise ValueError("auto_margin >= 0, max_suggestions >= 1 and subset_max_size in 1..6.")

    @property
    def auto_logit(self) -> float:
        return logit(self.auto_threshold)

    @property
    def suggest_logit(self) -> float:
        return logit(self.suggest_threshold)


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    z = math.exp(x)
    return z / (1 + z)
