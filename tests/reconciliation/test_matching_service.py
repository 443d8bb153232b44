"""The matcher writing the match ledger: automatic matches confirmed, suggestions ranked,
people's decisions left alone."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command

from integrations.models import AuditEvent
from reconciliation.models import DocumentKind, Match, MatchAllocation, MatchBand, MatchStatus, PostingStatus
from reconciliation.services.matching import candidates_for, match_payments
from tests.factories import make_connection, make_document, make_match

pytestmark = pytest.mark.django_db


@pytest.fixture
def xero():
    return make_connection()


def _invoice(connection, amount, number, contact="C1", **kwargs):
    return make_document(
        connection, DocumentKind.INVOICE, amount, number=number, contact_key=contact,
        contact_name=kwargs.pop("contact_name", "Acme Trading Ltd"), issue_date=date(2026, 10, 1), due_date=date(2026, 10, 31), **kwargs,
    )


def _payment(connection, amount, reference="", contact="C1", kind=DocumentKind.PAYMENT, **kwargs):
    return make_document(
        connection, kind, amount, number="", reference=reference, contact_key=contact,
        contact_name=kwargs.pop("contact_name", "Acme Trading Ltd"), issue_date=date(2026, 10, 20), **kwargs,
    )


def test_an_automatic_match_is_confirmed_with_active_allocations_and_audited(xero):
    invoice = _invoice(xero, "120.00", "INV-00042")
    _invoice(xero, "120.00", "INV-00043")
    payment = _payment(xero, "120.00", reference="PAYMENT REF INV0042/ACME", contact="", kind=DocumentKind.BANK_LINE)
    summary = match_payments(connection=xero)
    assert (summary.payments, summary.auto, summary.suggested) == (1, 1, 0)
    match = Match.objects.get(payment=payment)
    assert (match.status, match.band, match.rank) == (MatchStatus.CONFIRMED, MatchBand.AUTO, 1)
    assert match.confirmed_by is None and match.confirmed_at is not None
    assert match.posting_status == PostingStatus.NOT_POSTED
    assert Decimal("0.99") < match.score <= 1
    allocation = match.allocations.get()
    assert (allocation.document, allocation.amount, allocation.payment_amount, allocation.active) == (
        invoice, Decimal("120.0000"), Decimal("120.0000"), True,
    )
    assert {r["feature"] for r in match.reasons} >= {"reference", "amount", "contact", "date"}
    assert all(set(r) == {"feature", "detail", "weight"} for r in match.reasons)
    event = AuditEvent.objects.get(action="match.auto_confirmed")
    assert event.object_id == str(match.pk) and "INV-00042" in event.object_ref


def test_ambiguous_payments_get_up_to_three_ranked_suggestions_with_inactive_allocations(xero):
    twins = [_invoice(xero, "900.00", f"INV-0020{k}") for k in range(4)]
    payment = _payment(xero, "900.00")
    summary = match_payments(connection=xero)
    assert summary.suggested == 1 and summary.auto == 0
    matches = list(Match.objects.filter(payment=payment).order_by("rank"))
    assert [m.rank for m in matches] == [1, 2, 3]
    assert all(m.status == MatchStatus.SUGGESTED and m.band == MatchBand.SUGGESTED for m in matches)
    assert matches[0].score >= matches[1].score >= matches[2].score
    allocations = MatchAllocation.objects.filter(match__payment=payment)
    assert allocations.count() == 3 and not allocations.filter(active=True).exists()
    assert {a.document_id for a in allocations} <= {t.pk for t in twins}
    assert AuditEvent.objects.filter(action="match.suggested").count() == 1


def test_a_new_run_replaces_suggestions_and_never_touches_confirmed_or_rejected_matches(xero):
    first, second = _invoice(xero, "900.00", "INV-00301"), _invoice(xero, "900.00", "INV-00302")
    payment = _payment(xero, "900.00")
    match_payments(connection=xero)
    earlier = set(Match.objects.filter(payment=payment).values_list("pk", flat=True))
    rejected = Match.objects.get(payment=payment, rank=1)
    rejected.status = MatchStatus.REJECTED
    rejected.save()
    rejected_document = rejected.allocations.get().document_id
    match_payments(connection=xero)
    assert Match.objects.get(pk=rejected.pk).status == MatchStatus.REJECTED
    current = Match.objects.filter(payment=payment, status=MatchStatus.SUGGESTED)
    assert not set(current.values_list("pk", flat=True)) & earlier
    # The rejected pair is not proposed again; the other invoice, now alone, is.
    assert not MatchAllocation.objects.filter(match__in=current, document_id=rejected_document).exists()
    remaining = {first.pk, second.pk} - {rejected_document}
    assert set(MatchAllocation.objects.filter(match__payment=payment, match__status__in=[MatchStatus.SUGGESTED, MatchStatus.CONFIRMED]).values_list("document_id", flat=True)) == remaining


def test_payments_a_person_confirmed_are_left_alone(xero):
    invoice = _invoice(xero, "75.00", "INV-00501")
    payment = _payment(xero, "75.00", reference="INV-00501")
    confirmed = make_match(payment, status=MatchStatus.CONFIRMED, band=MatchBand.MANUAL)
    summary = match_payments(connection=xero)
    assert summary.payments == 0
    assert list(Match.objects.filter(payment=payment)) == [confirmed]
    assert not MatchAllocation.objects.filter(document=invoice).exists()


def test_an_undone_pair_is_suggested_but_not_matched_automatically_again(xero):
    invoice = _invoice(xero, "75.00", "INV-00601")
    payment = _payment(xero, "75.00", reference="INV-00601")
    undone = make_match(payment, status=MatchStatus.UNDONE, band=MatchBand.AUTO)
    MatchAllocation.objects.create(match=undone, document=invoice, amount=Decimal("75"), payment_amount=Decimal("75"))
    summary = match_payments(connection=xero)
    assert (summary.auto, summary.suggested) == (0, 1)
    assert Match.objects.filter(payment=payment, status=MatchStatus.SUGGESTED, rank=1, allocations__document=invoice).exists()


def test_what_others_already_allocated_is_no_longer_open(xero):
    invoice = _invoice(xero, "100.00", "INV-00701")
    earlier = _payment(xero, "60.00", reference="by hand")
    confirmed = make_match(earlier, status=MatchStatus.CONFIRMED)
    MatchAllocation.objects.create(match=confirmed, document=invoice, amount=Decimal("60"), payment_amount=Decimal("60"), active=True)
    payment = _payment(xero, "40.00", contact="", kind=DocumentKind.BANK_LINE, reference="INV-00701", contact_name="ACME TRADING")
    summary = match_payments(connection=xero)
    assert summary.auto == 1
    match = Match.objects.get(payment=payment)
    assert match.allocations.get().amount == Decimal("40.0000") and "paid in full" in str(match.reasons)


def test_incremental_matching_handles_the_new_payment_and_its_rivals_only(xero):
    target = _invoice(xero, "900.00", "INV-00801")
    rival = _payment(xero, "900.00")
    unrelated = _payment(xero, "33.00", contact="C9")
    match_payments(connection=xero)
    assert Match.objects.filter(payment=rival, status=MatchStatus.CONFIRMED).exists()
    Match.objects.filter(payment=rival).delete()
    Match.objects.create(payment=rival, status=MatchStatus.SUGGESTED, band=MatchBand.SUGGESTED, rank=1)
    untouched = Match.objects.create(payment=unrelated, status=MatchStatus.SUGGESTED, band=MatchBand.SUGGESTED, rank=1)
    newcomer = _payment(xero, "900.00")
    summary = match_payments(payments=[newcomer])
    assert summary.payments == 2  # the newcomer and the rival for the same invoice
    assert not Match.objects.filter(payment__in=[rival, newcomer], status=MatchStatus.CONFIRMED).exists()
    assert MatchAllocation.objects.filter(match__payment=newcomer, document=target).exists()
    assert list(Match.objects.filter(payment=unrelated)) == [untouched]


def test_candidates_on_demand_rank_documents_with_reasons_and_amounts(xero):
    best = _invoice(xero, "250.00", "INV-00901")
    _invoice(xero, "250.00", "INV-00902", contact="C2")
    payment = _payment(xero, "250.00", reference="INV-00901")
    candidates = candidates_for(payment, limit=5)
    assert candidates[0].document == best and candidates[0].amount == Decimal("250.00")
    assert candidates[0].score > Decimal("0.99") and candidates[0].reasons[0]["feature"] == "reference"
    assert not Match.objects.exists()


def test_the_reconcile_command_runs_the_matcher(xero, capsys):
    _invoice(xero, "64.00", "INV-01001")
    _payment(xero, "64.00", reference="INV-01001")
    call_command("reconcile", "--connection", str(xero.pk))
    assert "1 matched automatically" in capsys.readouterr().out
    assert Match.objects.filter(status=MatchStatus.CONFIRMED, band=MatchBand.AUTO).count() == 1


def test_new_payments_are_matched_against_blocked_documents_by_number_amount_and_contact(xero):
    target = _invoice(xero, "1234.56", "INV-000042", contact="C5")
    for k in range(30):
        _invoice(xero, f"{100 + k}.00", f"INV-0001{k:02d}", contact=f"C{100 + k}")
    payment = _payment(xero, "1234.56", reference="inv 42 payment", contact="", kind=DocumentKind.BANK_LINE, contact_name="ACME")
    summary = match_payments(payments=[payment])
    assert summary.auto == 1
    assert Match.objects.get(payment=payment, status=MatchStatus.CONFIRMED).allocations.get().document == target


def test_a_name_two_contacts_share_resolves_to_neither_even_when_one_has_nothing_open(xero):
    target = _invoice(xero, "500.00", "INV-01101", contact="C1")  # "Acme Trading Ltd"
    _invoice(xero, "80.00", "INV-01102", contact="C2", status="PAID", contact_name="ACME TRADING LIMITED")
    payment = _payment(xero, "500.00", contact="", kind=DocumentKind.BANK_LINE, contact_name="Acme Trading")
    summary = match_payments(payments=[payment])
    assert (summary.auto, summary.suggested) == (0, 1)
    assert Match.objects.get(payment=payment, rank=1).allocations.get().document == target
    assert match_payments(connection=xero, full=True).auto == 0  # a full run reads the same directory


def test_a_full_run_writes_in_chunks_under_one_correlation_id(xero, monkeypatch):
    from reconciliation.services import matching

    monkeypatch.setattr(matching, "WRITE_CHUNK", 2)
    for k in range(5):
        _invoice(xero, f"{10 + k}.00", f"INV-0200{k}")
        _payment(xero, f"{10 + k}.00", reference=f"INV-0200{k}")
    summary = match_payments(connection=xero, full=True)
    assert (summary.payments, summary.auto) == (5, 5)
    events = AuditEvent.objects.filter(action="match.auto_confirmed")
    assert events.count() == 5 and len({e.correlation_id for e in events}) == 1


def test_an_automatic_match_the_database_refuses_becomes_a_suggestion_and_spares_the_others(xero, monkeypatch):
    from reconciliation.services import matching

    crowded = _invoice(xero, "100.00", "INV-03001")
    earlier = make_match(_payment(xero, "60.00", reference="by hand"), status=MatchStatus.CONFIRMED)
    MatchAllocation.objects.create(match=earlier, document=crowded, amount=Decimal("60"), payment_amount=Decimal("60"), active=True)
    fine = _invoice(xero, "70.00", "INV-03002")
    late = _payment(xero, "100.00", reference="INV-03001")
    other = _payment(xero, "70.00", reference="INV-03002")
    # As if the 60.00 were allocated after the matcher read the ledger.
    read = matching._open_documents

    def stale(connection, **kwargs):
        documents = read(connection, **kwargs)
        for document in documents:
            document.open_amount = document.amount
        return documents

    monkeypatch.setattr(matching, "_open_documents", stale)
    summary = match_payments(connection=xero)
    assert (summary.auto, summary.refused, summary.suggested) == (1, 1, 1)
    assert Match.objects.get(payment=other, status=MatchStatus.CONFIRMED).allocations.get().document == fine
    assert Match.objects.get(payment=late, status=MatchStatus.SUGGESTED, rank=1).allocations.get().active is False
    assert crowded.allocations.filter(active=True).count() == 1
