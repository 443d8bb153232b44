"""Adding payments one at a time gives the decisions a full run gives."""

from __future__ import annotations

import random

from reconciliation.engine import Band, Reconciler
from reconciliation.generator import generate


def _key(decision):
    return (decision.band, [(p.invoice_ids, round(p.score, 9), p.allocations) for p in decision.proposals])


def test_incremental_runs_in_any_order_equal_the_full_run():
    data = generate(700, seed=21)
    full = {d.payment_id: _key(d) for d in Reconciler(data.invoices).run(data.payments)}
    assert {band for band, _ in full.values()} == {Band.AUTO, Band.SUGGESTED, Band.NONE}
    order = list(data.payments)
    random.Random(4).shuffle(order)
    incremental = Reconciler(data.invoices)
    for payment in order:
        changed = incremental.add(payment)
        assert changed[0].payment_id == payment.id
    final = {payment.id: _key(incremental.decision(k)) for k, payment in enumerate(order)}
    assert final == full


def test_a_new_payment_touches_only_its_own_component():
    data = generate(400, seed=5)
    reconciler = Reconciler(data.invoices)
    reconciler.run(data.payments[:-1])
    changed = reconciler.add(data.payments[-1])
    assert 1 <= len(changed) < len(data.payments) // 4
