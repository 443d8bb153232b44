"""Pair scores: the sum of per-feature log-odds (vectorised over every candidate pair at once)
and, for the few pairs a person will see, the same sum spelled out as reasons."""

from __future__ import annotations

import numpy as np

from reconciliation.engine.config import (
    AMOUNT_BANK_FEE, AMOUNT_EXACT, AMOUNT_FX, AMOUNT_MISMATCH, AMOUNT_OVER, AMOUNT_PARTIAL, AMOUNT_WRITE_OFF,
    CONTACT_FUZZY, CONTACT_ID, CONTACT_MISMATCH, CONTACT_NAME, CONTACT_UNKNOWN, CONTACT_WEAK, DATE_EARLY,
    DATE_LATE, DATE_NORMAL, DATE_VERY_LATE, REF_DIGITS, REF_ID, REF_NONE, REF_STRONG, Weights, sigmoid,
)
from reconciliation.engine.documents import Reason

REFERENCE_DETAIL = {
    REF_NONE: "no invoice number in the reference",
    REF_DIGITS: "the reference holds the invoice's digits",
    REF_STRONG: "the reference names this invoice number",
    REF_ID: "the source links the payment to this invoice",
}
AMOUNT_DETAIL = {
    AMOUNT_EXACT: "the amount is equal (within tolerance)",
    AMOUNT_WRITE_OFF: "short by a small amount (write-off)",
    AMOUNT_BANK_FEE: "short by a gateway fee",
    AMOUNT_FX: "equal at the invoice's rate, up to an exchange difference",
    AMOUNT_PARTIAL: "pays part of the invoice",
    AMOUNT_OVER: "pays more than the invoice",
    AMOUNT_MISMATCH: "the amounts are far apart",
}
CONTACT_DETAIL = {
    CONTACT_UNKNOWN: "no payer to compare",
    CONTACT_ID: "the same contact",
    CONTACT_NAME: "the payer's name is the contact's",
    CONTACT_FUZZY: "the payer's name is close to the contact's",
    CONTACT_MISMATCH: "a different payer",
    CONTACT_WEAK: "the payer's name is somewhat like the contact's",
}
DATE_DETAIL = {
    DATE_NORMAL: "paid between the invoice date and shortly after it was due",
    DATE_LATE: "paid late",
    DATE_EARLY: "paid before the invoice was issued",
    DATE_VERY_LATE: "paid very late",
}


def pair_logodds(
    weights: Weights,
    reference: np.ndarray,
    reference_elsewhere: np.ndarray,
    amount: np.ndarray,
    contact: np.ndarray,
    when: np.ndarray,
) -> np.ndarray:
    """Log-odds of every pair; the inputs are arrays of category codes (config.py)."""
    return (
        weights.prior
        + np.asarray(weights.reference)[reference]
        + np.where(reference_elsewhere, weights.reference_elsewhere, 0.0)
        + np.asarray(weights.amount)[amount]
        + np.asarray(weights.contact)[contact]
        + np.asarray(weights.date)[when]
    )


def explain(
    weights: Weights,
    *,
    reference: int,
    reference_elsewhere: bool,
    amount: int,
    contact: int,
    when: int,
    invoices: int = 1,
    subset_unique: bool | None = None,
    instalment: str = "",
) -> tuple[float, tuple[Reason, ...]]:
    """The same log-odds as :func:`pair_logodds` for one proposal, with its reasons; groups of
    invoices add the subset features."""
    reasons = [
        Reason("reference", REFERENCE_DETAIL[reference], weights.reference[reference]),
        Reason("amount", AMOUNT_DETAIL[amount], weights.amount[amount]),
        Reason("contact", CONTACT_DETAIL[contact], weights.contact[contact]),
        Reason("date", DATE_DETAIL[when], weights.date[when]),
    ]
    if reference_elsewhere:
        reasons.append(Reason("reference", "the reference names another invoice", weights.reference_elsewhere))
    if invoices > 1:
        reasons.append(Reason("group", f"{invoices} invoices together", weights.subset_per_extra_invoice * (invoices - 1)))
    if subset_unique:
        reasons.append(Reason("group", "the only group of open invoices that adds up", weights.subset_unique))
    if instalment:
        reasons.append(Reason("amount", f"exactly {instalment} of the invoice", weights.instalment))
    total = weights.prior + sum(r.weight for r in reasons)
    return total, tuple(reasons)


def probability(logodds: float) -> float:
    return sigmoid(logodds)
