"""The engine's own view of documents and decisions: plain frozen dataclasses, no ORM, so the
same engine serves the database, the CSV evaluation and the benchmark."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Band(StrEnum):
    AUTO = "auto"
    SUGGESTED = "suggested"
    NONE = "none"


class Tier(StrEnum):
    ID = "id"  # the payment names the invoice's id (a payout report, Xero's own link)
    REFERENCE = "reference"  # a unique invoice number in the reference
    SCORE = "score"  # pairwise score and one-to-one assignment
    SUBSET = "subset"  # several invoices of one contact adding up to the payment
    NONE = "none"


class Settlement(StrEnum):
    EXACT = "exact"
    WRITE_OFF = "write_off"
    BANK_FEE = "bank_fee"
    FX_DIFFERENCE = "fx_difference"
    PARTIAL = "partial"
    OVERPAYMENT = "overpayment"


@dataclass(frozen=True, slots=True)
class Invoice:
    """An open invoice or bill. ``open_amount`` is what is still due (default: ``amount``).

    A foreign-currency invoice may carry ``base_amount`` in ``base_currency`` (the organisation's
    currency at the invoice's rate) so a payment in the base currency can settle it."""

    id: str
    number: str
    currency: str
    amount: Decimal
    issue_date: date
    due_date: date | None = None
    contact_id: str = ""
    contact_name: str = ""
    open_amount: Decimal | None = None
    direction: str = "receivable"
    base_currency: str = ""
    base_amount: Decimal | None = None

    @property
    def open(self) -> Decimal:
        return self.amount if self.open_amount is None else self.open_amount


@dataclass(frozen=True, slots=True)
class Payment:
    """A payment, bank line or credit note that pays invoices.

    ``contact_id`` is known when the source system recorded the payer (a Xero payment);
    bank lines carry only ``contact_name`` as the bank printed it. ``invoice_ids`` are links the
    source already holds (a gateway's payout report, a Xero payment's invoice)."""

    id: str
    currency: str
    amount: Decimal
    date: date
    reference: str = ""
    contact_id: str = ""
    contact_name: str = ""
    direction: str = "receivable"
    kind: str = "payment"
    invoice_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reason:
    """One feature that counted, how, and its weight in log-odds."""

    feature: str
    detail: str
    weight: float

    def as_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "detail": self.detail, "weight": round(self.weight, 2)}


@dataclass(frozen=True, slots=True)
class Allocation:
    """``amount`` in the invoice's currency, ``payment_amount`` in the payment's."""

    invoice_id: str
    amount: Decimal
    payment_amount: Decimal


@dataclass(frozen=True, slots=True)
class Proposal:
    invoice_ids: tuple[str, ...]
    allocations: tuple[Allocation, ...]
    score: float  # 0..1
    reasons: tuple[Reason, ...]
    settlement: Settlement
    residual: Decimal  # payment currency: paid minus asked (negative = short)
    auto_allowed: bool = False  # whether the residual rule lets a machine settle it alone

    @property
    def allocated(self) -> Decimal:
        return sum((a.payment_amount for a in self.allocations), Decimal("0"))


@dataclass(frozen=True, slots=True)
class Decision:
    payment_id: str
    band: Band
    tier: Tier
    proposals: tuple[Proposal, ...] = ()

    @property
    def best(self) -> Proposal | None:
        return self.proposals[0] if self.proposals else None
