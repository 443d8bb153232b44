"""The reconciliation screen: Finance confirms, rejects, splits, undoes and bulk-accepts; every
action is audited and corrections are kept as labels; Auditors see it all and may do nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from integrations.models import AuditEvent
from integrations.roles import AUDITORS, FINANCE
from reconciliation.models import (
    DocumentKind, LabelKind, MatchAllocation, MatchBand, MatchLabel, MatchStatus,
)
from tests.factories import make_connection, make_document, make_match

pytestmark = pytest.mark.django_db

SCREEN = reverse("reconciliation:screen")


def _user(name: str, role: str) -> User:
    user = User.objects.create_user(name, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def finance(client):
    client.force_login(_user("fiona", FINANCE))
    return client


@pytest.fixture
def auditor(client):
    client.force_login(_user("audrey", AUDITORS))
    return client


@pytest.fixture
def posted(monkeypatch):
    """The posting tasks queued (after commit) instead of run."""
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kwargs: queued.append((func, args)))
    return queued


@pytest.fixture
def books():
    xero = make_connection()
    payment = make_document(xero, DocumentKind.PAYMENT, amount="300.00", number="", reference="BACS ACME 1107",
                            contact_name="Acme Gases", contact_key="k:acme")
    first = make_document(xero, amount="300.00", number="INV-0101", contact_name="Acme Gases", contact_key="k:acme")
    second = make_document(xero, amount="200.00", number="INV-0102", contact_name="Acme Gases", contact_key="k:acme")
    third = make_document(xero, amount="100.00", number="INV-0103", contact_name="Acme Gases", contact_key="k:acme")
    suggestions = []
    for rank, (invoice, score) in enumerate(((first, "0.9600"), (second, "0.4100")), start=1):
        match = make_match(payment, band=MatchBand.SUGGESTED, rank=rank, score=Decimal(score), reasons=[
            {"feature": "reference", "detail": f"{invoice.number} in the reference", "weight": 0.6},
            {"feature": "amount", "detail": "same amount" if rank == 1 else "amount differs", "weight": 0.3},
        ])
        MatchAllocation.objects.create(match=match, document=invoice, amount=Decimal("300.00") if rank == 1 else Decimal("200.00"),
                                       payment_amount=Decimal("300.00") if rank == 1 else Decimal("200.00"))
        suggestions.append(match)
    return {"connection": xero, "payment": payment, "invoices": (first, second, third), "suggestions": suggestions}


def _post(client, url, data=None, **kwargs):
    return client.post(url, {"next": SCREEN, **(data or {})}, **kwargs)


def test_finance_sees_payments_beside_ranked_candidates_with_scores_and_reasons(finance, books):
    response = finance.get(SCREEN)
    assert response.status_code == 200
    page = response.content.decode()
    assert "BACS ACME 1107" in page and "300.00" in page
    assert page.index("INV-0101") < page.index("INV-0102")  # ranked
    assert "96%" in page and "41%" in page
    assert "INV-0101 in the reference" in page and "same amount" in page
    assert page.count('data-action="confirm"') == 2 and "Split across invoices" in page
    assert 'src="/static/reconciliation/js/screen.js"' in page


def test_the_admin_index_links_to_the_screen(finance, books):
    page = finance.get(reverse("admin:index")).content.decode()
    assert "Reconciliation screen" in page
    link = reverse("admin:reconciliation_reconciliationscreen_changelist")
    assert finance.get(link).url == SCREEN


def test_confirming_the_first_suggestion_activates_it_queues_posting_and_is_audited(
        finance, books, posted, django_capture_on_commit_callbacks):
    match = books["suggestions"][0]
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(finance, reverse("reconciliation:match_action", args=[match.pk, "confirm"]))
    assert response.status_code == 302
    match.refresh_from_db()
    assert match.status == MatchStatus.CONFIRMED and match.confirmed_by.username == "fiona"
    assert list(match.allocations.values_list("active", flat=True)) == [True]
    assert posted == [("reconciliation.tasks.match_post_task", (match.pk,))]
    event = AuditEvent.objects.get(action="match.confirmed")
    assert event.actor_label == "fiona" and event.object_id == str(match.pk)
    assert not MatchLabel.objects.exists()  # the matcher was right: nothing to learn
    # The payment has left the list of those waiting; it shows under "Matched".
    page = finance.get(SCREEN).content.decode()
    assert 'data-action="confirm"' not in page and 'data-action="undo"' in page


def test_confirming_a_lower_suggestion_is_kept_as_a_label(finance, books, posted):
    second = books["suggestions"][1]
    _post(finance, reverse("reconciliation:match_action", args=[second.pk, "confirm"]))
    label = MatchLabel.objects.get()
    assert label.kind == LabelKind.CONFIRMED_OTHER and label.match == second
    assert label.suggested["match"] == books["suggestions"][0].pk and label.suggested["rank"] == 1


def test_rejecting_a_suggestion_is_audited_and_labelled(finance, books):
    match = books["suggestions"][0]
    _post(finance, reverse("reconciliation:match_action", args=[match.pk, "reject"]))
    match.refresh_from_db()
    assert match.status == MatchStatus.REJECTED
    assert MatchLabel.objects.get().kind == LabelKind.REJECTED
    assert AuditEvent.objects.filter(action="match.rejected", actor_label="fiona").count() == 1
    assert "INV-0101 in the reference" not in finance.get(SCREEN).content.decode()


def test_splitting_a_payment_across_two_invoices(finance, books, posted):
    payment, (_, second, third) = books["payment"], books["invoices"]
    response = _post(finance, reverse("reconciliation:payment_split", args=[payment.pk]),
                     {f"amount-{second.pk}": "200.00", f"amount-{third.pk}": "100"}, follow=True)
    assert "Split" in response.content.decode() and "INV-0102 (200.00)" in response.content.decode()
    match = payment.matches.get(status=MatchStatus.CONFIRMED)
    assert match.band == MatchBand.MANUAL
    assert sorted((a.document.number, a.amount, a.active) for a in match.allocations.all()) == [
        ("INV-0102", Decimal("200.0000"), True), ("INV-0103", Decimal("100.0000"), True)]
    label = MatchLabel.objects.get(kind=LabelKind.SPLIT)
    assert sorted(Decimal(d["amount"]) for d in label.documents) == [Decimal("100"), Decimal("200")]
    assert AuditEvent.objects.get(action="match.split").data["count"] == 2


def test_over_allocating_an_invoice_is_refused_with_a_clear_message(finance, books, posted):
    payment, (first, second, _) = books["payment"], books["invoices"]
    other = make_document(books["connection"], DocumentKind.PAYMENT, amount="150.00")
    other_match = make_match(other, status=MatchStatus.CONFIRMED)
    MatchAllocation.objects.create(match=other_match, document=second, amount=Decimal("150"), payment_amount=Decimal("150"), active=True)

    response = _post(finance, reverse("reconciliation:payment_split", args=[payment.pk]),
                     {f"amount-{first.pk}": "100.00", f"amount-{second.pk}": "80.00"}, follow=True)
    page = response.content.decode()
    assert "INV-0102 has GBP 50.00 left to allocate; 80.00 is too much." in page
    assert not payment.matches.filter(status=MatchStatus.CONFIRMED).exists()
    assert not MatchLabel.objects.exists() and not AuditEvent.objects.filter(action="match.split").exists()

    response = _post(finance, reverse("reconciliation:payment_split", args=[payment.pk]),
                     {f"amount-{first.pk}": "300.00", f"amount-{second.pk}": "0.01"}, follow=True)
    assert "more than the payment" in response.content.decode()


def test_undoing_an_unposted_match_frees_the_invoice(finance, books, posted):
    match = books["suggestions"][0]
    _post(finance, reverse("reconciliation:match_action", args=[match.pk, "confirm"]))
    _post(finance, reverse("reconciliation:match_action", args=[match.pk, "undo"]))
    match.refresh_from_db()
    assert match.status == MatchStatus.UNDONE
    assert not MatchAllocation.objects.filter(active=True).exists()
    assert MatchLabel.objects.get().kind == LabelKind.UNDONE
    assert AuditEvent.objects.filter(action="match.undone", actor_label="fiona").count() == 1
    # The payment waits again, with its remaining suggestion.
    assert "INV-0102" in finance.get(SCREEN).content.decode()


def test_bulk_accept_confirms_only_first_suggestions_above_the_confidence(finance, books, posted):
    xero = books["connection"]
    low_payment = make_document(xero, DocumentKind.PAYMENT, amount="50.00")
    low = make_match(low_payment, band=MatchBand.SUGGESTED, rank=1, score=Decimal("0.8000"))
    MatchAllocation.objects.create(match=low, document=make_document(xero, amount="50.00"), amount=Decimal("50"), payment_amount=Decimal("50"))

    response = _post(finance, reverse("reconciliation:bulk_accept"), {"min_confidence": "90"}, follow=True)
    assert "Accepted 1 suggestion scoring 90% or more." in response.content.decode()
    assert books["suggestions"][0].__class__.objects.get(pk=books["suggestions"][0].pk).status == MatchStatus.CONFIRMED
    low.refresh_from_db()
    assert low.status == MatchStatus.SUGGESTED
    events = AuditEvent.objects.filter(action="match.confirmed")
    assert events.count() == 1


def test_auditors_see_the_screen_without_buttons_and_every_action_is_refused(auditor, books):
    page = auditor.get(SCREEN).content.decode()
    assert "BACS ACME 1107" in page and "96%" in page
    assert "read-only" in page
    for marker in ('data-action="confirm"', 'data-action="reject"', "Bulk accept", "Split across invoices"):
        assert marker not in page
    match, payment, invoice = books["suggestions"][0], books["payment"], books["invoices"][2]
    for url, data in (
        (reverse("reconciliation:match_action", args=[match.pk, "confirm"]), {}),
        (reverse("reconciliation:match_action", args=[match.pk, "reject"]), {}),
        (reverse("reconciliation:match_action", args=[match.pk, "undo"]), {}),
        (reverse("reconciliation:match_action", args=[match.pk, "post"]), {}),
        (reverse("reconciliation:payment_split", args=[payment.pk]), {f"amount-{invoice.pk}": "10"}),
        (reverse("reconciliation:bulk_accept"), {"min_confidence": "50"}),
    ):
        assert _post(auditor, url, data).status_code == 403, url
    match.refresh_from_db()
    assert match.status == MatchStatus.SUGGESTED
    assert not AuditEvent.objects.filter(action__startswith="match.").exists()
    assert not MatchLabel.objects.exists()


def test_people_without_a_role_cannot_open_the_screen(client, books):
    client.force_login(User.objects.create_user("nobody", password="pw", is_staff=True))
    assert client.get(SCREEN).status_code == 403
