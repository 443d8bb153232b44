"""The tiers of the matcher: links and references, scores with one-to-one assignment, and the
rule that ties are never decided automatically."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from reconciliation.engine import Band, MatchConfig, Tier
from reconciliation.engine.scoring import explain
from tests.reconciliation.engine_builders import decide, invoice, payment


def test_a_unique_reference_with_the_amount_is_automatic():
    target = invoice("120.00", number="INV-00042")
    other = invoice("120.00", number="INV-00043")  # same amount, same contact: only the reference tells
    pay = payment("120.00", reference="PAYMENT REF INV0042/ACME", name="ACME TRADING")
    decision = decide([target, other], [pay])[pay.id]
    assert decision.band is Band.AUTO and decision.tier is Tier.REFERENCE
    assert decision.best.invoice_ids == (target.id,)
    assert [r.feature for r in decision.best.reasons][:4] == ["reference", "amount", "contact", "date"]


def test_a_reference_that_fits_two_invoices_is_not_automatic():
    first = invoice("80.00", number="INV-0042", contact="C1")
    second = invoice("80.00", number="SO-42", contact="C1")
    pay = payment("80.00", reference="0042", contact="C1")  # bare digits fit both
    decision = decide([first, second], [pay])[pay.id]
    assert decision.band is Band.SUGGESTED
    assert {p.invoice_ids for p in decision.proposals} == {(first.id,), (second.id,)}


def test_a_link_from_the_source_settles_the_invoices_it_names():
    first, second = invoice("300.00", contact="C7"), invoice("200.00", contact="C9")
    pay = payment("490.00", name="STRIPE PAYMENTS UK LTD", reference="STRIPE PAYOUT po_1", invoice_ids=(first.id, second.id))
    decision = decide([first, second], [pay])[pay.id]
    assert decision.band is Band.AUTO and decision.tier is Tier.ID
    assert set(decision.best.invoice_ids) == {first.id, second.id}
    assert decision.best.settlement == "bank_fee"


def test_a_reference_disagreeing_with_the_amount_while_another_invoice_fits_is_left_to_a_person():
    named = invoice("730.00", number="INV-00024")
    fits = invoice("500.00", number="INV-00042")
    pay = payment("500.00", reference="INV-00024", contact="C1")
    decision = decide([named, fits], [pay])[pay.id]
    assert decision.band is Band.SUGGESTED
    assert (fits.id,) in {p.invoice_ids for p in decision.proposals}


def test_contact_and_exact_amount_alone_are_automatic_when_unique():
    target = invoice("642.17", contact="C1")
    decoy = invoice("642.17", contact="C2", name="Beta Foods")  # same amount, another contact
    pay = payment("642.17", contact="C1")
    decision = decide([target, decoy], [pay])[pay.id]
    assert decision.band is Band.AUTO and decision.tier is Tier.SCORE
    assert decision.best.invoice_ids == (target.id,)


def test_an_amount_alone_is_only_a_suggestion():
    target = invoice("642.17", contact="C1")
    pay = payment("642.17", name="SOMEONE UNKNOWN HOLDINGS")
    decision = decide([target], [pay])[pay.id]
    assert decision.band is not Band.AUTO


def test_two_invoices_of_the_same_contact_and_amount_are_never_decided_automatically():
    twins = [invoice("900.00", contact="C1"), invoice("900.00", contact="C1")]
    pay = payment("900.00", contact="C1")
    decision = decide(twins, [pay])[pay.id]
    assert decision.band is Band.SUGGESTED
    assert {p.invoice_ids for p in decision.proposals} == {(twins[0].id,), (twins[1].id,)}
    assert decision.proposals[0].score == decision.proposals[1].score


def test_two_payments_for_one_invoice_are_never_decided_automatically():
    target = invoice("900.00", contact="C1")
    first, second = payment("900.00", contact="C1"), payment("900.00", contact="C1")
    decisions = decide([target], [first, second])
    assert decisions[first.id].band is Band.SUGGESTED and decisions[second.id].band is Band.SUGGESTED


def test_twin_payments_for_twin_invoices_are_all_left_to_a_person():
    twins = [invoice("450.00", contact="C1"), invoice("450.00", contact="C1")]
    payments = [payment("450.00", contact="C1"), payment("450.00", contact="C1")]
    assert {d.band for d in decide(twins, payments).values()} == {Band.SUGGESTED}


def test_a_settled_invoice_is_no_rival_one_paid_by_reference_leaves_the_other():
    first, second = invoice("300.00", number="INV-00101"), invoice("300.00", number="INV-00102")
    by_reference = payment("300.00", reference="INV-00101", contact="C1", days=5)
    without = payment("300.00", contact="C1", days=12)
    decisions = decide([first, second], [by_reference, without])
    assert decisions[by_reference.id].best.invoice_ids == (first.id,)
    assert decisions[without.id].band is Band.AUTO and decisions[without.id].best.invoice_ids == (second.id,)


def test_nothing_plausible_means_no_decision():
    pay = payment("12.34", name="NOBODY", reference="TRANSFER 55555")
    assert decide([invoice("999.99")], [pay])[pay.id].band is Band.NONE


def test_rejected_pairs_are_never_proposed_and_undone_pairs_never_automatic():
    target = invoice("250.00", number="INV-00777")
    pay = payment("250.00", reference="INV-00777", contact="C1")
    rejected = decide([target], [pay], excluded_pairs={(pay.id, target.id)})[pay.id]
    assert all(target.id not in p.invoice_ids for p in rejected.proposals)
    undone = decide([target], [pay], no_auto_pairs={(pay.id, target.id)})[pay.id]
    assert undone.band is Band.SUGGESTED and undone.best.invoice_ids == (target.id,)


def test_a_higher_bar_turns_automatic_into_suggested():
    target = invoice("642.17", contact="C1")
    pay = payment("642.17", contact="C1")
    assert decide([target], [pay])[pay.id].band is Band.AUTO
    assert decide([target], [pay], MatchConfig(auto_threshold=0.99))[pay.id].band is Band.SUGGESTED


def test_scores_are_probabilities_of_the_summed_weights():
    config = MatchConfig()
    logodds, reasons = explain(config.weights, reference=2, reference_elsewhere=False, amount=0, contact=1, when=0)
    assert logodds == config.weights.prior + sum(r.weight for r in reasons)
    target = invoice("10.00", number="INV-09999")
    pay = payment("10.00", reference="INV-09999", contact="C1")
    score = decide([target], [pay])[pay.id].best.score
    assert np.isclose(score, 1 / (1 + np.exp(-logodds)))
    assert 0 < score < 1


def test_blocking_keeps_a_payment_to_its_contact_and_to_a_few_candidates():
    from reconciliation.engine import Reconciler

    invoices = [invoice("100.00", contact=f"C{k}", name=f"Firm {k}") for k in range(300)]
    reconciler = Reconciler(invoices, MatchConfig(max_window=64))
    known = reconciler.index.facts(payment("100.00", contact="C5"))
    edges = reconciler.index.candidates([known])
    assert set(edges.invoice.tolist()) == {5}
    stranger = reconciler.index.facts(payment("100.00", name="NOBODY AT ALL"))
    assert len(reconciler.index.candidates([stranger])) == 0  # 300 equal amounts say nothing alone
    assert Decimal("100.00") == invoices[0].amount


def test_direction_and_currency_block_candidates():
    bill = invoice("310.00", number="BILL-0077", direction="payable")
    euro = invoice("310.00", number="INV-0078", currency="EUR")
    received = payment("310.00", reference="BILL-0077 INV-0078", contact="C1")
    assert decide([bill, euro], [received])[received.id].band is Band.NONE
    paid_out = payment("310.00", reference="BILL-0077", contact="C1", direction="payable")
    decision = decide([bill, euro], [paid_out])[paid_out.id]
    assert decision.band is Band.AUTO and decision.best.invoice_ids == (bill.id,)
