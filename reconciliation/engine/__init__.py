"""The matching engine: pure Python and numpy, no ORM.

``Reconciler(invoices, config).run(payments)`` returns one :class:`Decision` per payment
(automatic, suggested with up to three ranked proposals and their reasons, or none);
``Reconciler.add(payment)`` does the same for one new payment, touching only its component.
"""

from reconciliation.engine.config import MatchConfig, ResidualRules, Weights
from reconciliation.engine.documents import (
    Allocation, Band, Decision, Invoice, Payment, Proposal, Reason, Settlement, Tier,
)
from reconciliation.engine.reconciler import Reconciler

__all__ = [
    "Allocation", "Band", "Decision", "Invoice", "MatchConfig", "Payment", "Proposal", "Reason", "Reconciler",
    "ResidualRules", "Settlement", "Tier", "Weights",
]
