"""One payment for several invoices of one contact: groups of up to five, automatic only when
exactly one group fits."""

from __future__ import annotations

import numpy as np

from reconciliation.engine import Band, Tier
from reconciliation.engine.subset import fitting_groups
from tests.reconciliation.engine_builders import decide, invoice, payment


def test_fitting_groups_finds_every_small_group_smallest_first():
    amounts = np.array([100, 250, 150, 400, 50])
    assert fitting_groups(amounts, 400, 400, limit=10) == [(1, 2), (0, 1, 4)]
    assert fitting_groups(amounts, 400, 400, min_size=1, limit=10)[0] == (3,)
    assert fitting_groups(amounts, 10_000, 10_000) == []
    assert fitting_groups(amounts, 400, 400, max_size=2, limit=10) == [(1, 2)]


def test_a_unique_group_of_the_contact_is_automatic():
    group = [invoice("123.45", days=0), invoice("678.90", days=5), invoice("1000.01", days=9)]
    others = [invoice("55.55", days=3), invoice("310.00", days=4)]
    pay = payment("1802.36", contact="C1", days=40)
    decision = decide(group + others, [pay])[pay.id]
    assert decision.band is Band.AUTO and decision.tier is Tier.SUBSET
    assert set(decision.best.invoice_ids) == {i.id for i in group}


def test_two_groups_that_fit_are_only_suggested():
    invoices = [invoice("100.00"), invoice("200.00"), invoice("150.00"), invoice("150.00")]
    pay = payment("300.00", contact="C1", days=40)
    decision = decide(invoices, [pay])[pay.id]
    assert decision.band is Band.SUGGESTED
    assert len(decision.proposals) >= 2 and all(len(p.invoice_ids) == 2 for p in decision.proposals)


def test_a_group_rivalling_a_single_invoice_keeps_both_from_being_automatic():
    single = invoice("300.00")
    parts = [invoice("100.00"), invoice("200.00")]
    pay = payment("300.00", contact="C1", days=40)
    decision = decide([single, *parts], [pay])[pay.id]
    assert decision.band is Band.SUGGESTED
    proposed = {frozenset(p.invoice_ids) for p in decision.proposals}
    assert frozenset({single.id}) in proposed and frozenset(i.id for i in parts) in proposed


def test_groups_stay_within_one_contact():
    mine = invoice("100.00", contact="C1")
    theirs = invoice("200.00", contact="C2", name="Beta Foods")
    pay = payment("300.00", contact="C1", days=40)
    assert decide([mine, theirs], [pay])[pay.id].band is not Band.AUTO


def test_a_group_named_in_the_reference_is_automatic_whatever_else_fits():
    named = [invoice("100.00", number="INV-00311"), invoice("200.00", number="INV-00312")]
    single = invoice("300.00", number="INV-00313")
    pay = payment("300.00", reference="INV 311, 312", contact="C1", days=40)
    decision = decide([*named, single], [pay])[pay.id]
    assert decision.band is Band.AUTO and set(decision.best.invoice_ids) == {i.id for i in named}
