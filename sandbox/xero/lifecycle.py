"""The document lifecycle Xero enforces (api-notes §6.2, §6.3, §7 pain 8).

DRAFT → DRAFT/SUBMITTED/AUTHORISED/DELETED; SUBMITTED → SUBMITTED/AUTHORISED/DRAFT/DELETED;
AUTHORISED → AUTHORISED/VOIDED (only without payments); PAID is set by payments and is
immutable; VOIDED and DELETED are final. Payments move AmountDue/AmountPaid and set PAID when
nothing is left to pay; a deleted payment gives the amount back.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sandbox.models import XeroInvoice
from sandbox.xero.errors import ValidationFailed
from sandbox.xero.resources.base import touch

CREATE_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED")
TRANSITIONS = {
    "DRAFT": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
    "SUBMITTED": {"SUBMITTED", "AUTHORISED", "DRAFT", "DELETED"},
    "AUTHORISED": {"AUTHORISED", "VOIDED"},
    "PAID": {"PAID"},
    "VOIDED": set(),
    "DELETED": set(),
}
NOT_MODIFIABLE = "Invoice not of valid status for modification"


def check_create_status(status: str, noun: str = "Invoice") -> None:
    if status not in CREATE_STATUSES:
        raise ValidationFailed(f"{noun} Status '{status}' is not valid for a new document.")


def check_transition(current: str, new: str, *, has_payments: bool, noun: str = "Invoice") -> None:
    if new not in TRANSITIONS.get(current, set()):
        if current in ("DRAFT", "SUBMITTED") and new == "VOIDED":
            raise ValidationFailed(f"A {current.lower()} {noun.lower()} cannot be voided; delete it instead.")
        if current == "AUTHORISED" and new == "DELETED":
            raise ValidationFailed(f"An approved {noun.lower()} cannot be deleted; void it instead.")
        raise ValidationFailed(NOT_MODIFIABLE if noun == "Invoice" else f"{noun} not of valid status for modification")
    if new == "VOIDED" and has_payments:
        raise ValidationFailed(
            f"This {noun.lower()} cannot be voided because it has payments allocated to it. Delete the payments first."
        )


def apply_payment(invoice: XeroInvoice, amount: Decimal, paid_on: date) -> None:
    if invoice.status != "AUTHORISED":
        raise ValidationFailed("Payments can only be made against authorised documents.")
    if amount <= 0:
        raise ValidationFailed("Payment amount must be greater than zero.")
    if amount > invoice.amount_due:
        raise ValidationFailed("Payment amount exceeds the amount outstanding on this document")
    invoice.amount_paid += amount
    invoice.amount_due -= amount
    if invoice.amount_due == 0:
        invoice.status = "PAID"
        invoice.fully_paid_on_date = paid_on
    touch(invoice)
    invoice.save()


def reverse_payment(invoice: XeroInvoice, amount: Decimal) -> None:
    invoice.amount_paid -= amount
    invoice.amount_due += amount
    if invoice.status == "PAID" and invoice.amount_due > 0:
        invoice.status = "AUTHORISED"
        invoice.fully_paid_on_date = None
    touch(invoice)
    invoice.save()
