"""Builders of engine documents for the matching engine's tests."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from reconciliation.engine import Invoice, MatchConfig, Payment, Reconciler

_seq = itertools.count(1)
DAY = date(2026, 3, 1)


def invoice(amount: str, *, number: str | None = None, contact: str = "C1", name: str = "Acme Trading Ltd", days: int = 0, **kwargs) -> Invoice:
    n = next(_seq)
    issue = DAY + timedelta(days=days)
    return Invoice(
        id=kwargs.pop("id", f"I{n}"), number=number or f"INV-{n:05d}", currency=kwargs.pop("currency", "GBP"),
        amount=Decimal(amount), issue_date=issue, due_date=issue + timedelta(days=30), contact_id=contact,
        contact_name=name, **kwargs,
    )


def payment(amount: str, *, reference: str = "", contact: str = "", name: str = "", days: int = 10, **kwargs) -> Payment:
    n = next(_seq)
    return Payment(
        id=kwargs.pop("id", f"P{n}"), currency=kwargs.pop("currency", "GBP"), amount=Decimal(amount),
        date=DAY + timedelta(days=days), reference=reference, contact_id=contact, contact_name=name, **kwargs,
    )


def decide(invoices, payments, config: MatchConfig | None = None, **kwargs):
    """Decisions by payment id."""
    return {d.payment_id: d for d in Reconciler(invoices, config, **kwargs).run(payments)}
