"""The database refuses allocations beyond a document's or a payment's amount."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from reconciliation.models import DocumentKind, LedgerDocument, MatchAllocation, MatchStatus
from tests.factories import make_connection, make_document, make_match

pytestmark = pytest.mark.django_db


@pytest.fixture
def xero():
    return make_connection()


def _allocate(match, document, amount, payment_amount=None, active=True):
    return MatchAllocation.objects.create(
        match=match, document=document, amount=Decimal(amount),
        payment_amount=Decimal(payment_amount or amount), active=active,
    )


def test_allocation_within_the_document_amount_is_accepted(xero):
    invoice = make_document(xero, amount="100.00")
    payment = make_document(xero, DocumentKind.PAYMENT, amount="100.00")
    _allocate(make_match(payment, status=MatchStatus.CONFIRMED), invoice, "100.00")
    assert invoice.allocations.count() == 1


def test_allocation_over_the_document_amount_is_refused(xero):
    invoice = make_document(xero, amount="100.00")
    payment = make_document(xero, DocumentKind.PAYMENT, amount="500.00")
    with pytest.raises(IntegrityError), transaction.atomic():
        _allocate(make_match(payment), invoice, "100.01")


def test_allocations_adding_up_over_the_document_amount_are_refused(xero):
    invoice = make_document(xero, amount="100.00")
    first = make_document(xero, DocumentKind.PAYMENT, amount="60.00")
    second = make_document(xero, DocumentKind.PAYMENT, amount="60.00")
    _allocate(make_match(first, status=MatchStatus.CONFIRMED), invoice, "60.00")
    with pytest.raises(IntegrityError), transaction.atomic():
        _allocate(make_match(second, status=MatchStatus.CONFIRMED), invoice, "40.01")
    _allocate(make_match(second, status=MatchStatus.CONFIRMED), invoice, "40.00")


def test_payment_split_over_its_own_amount_is_refused(xero):
    payment = make_document(xero, DocumentKind.PAYMENT, amount="150.00")
    match = make_match(payment, status=MatchStatus.CONFIRMED)
    _allocate(match, make_document(xero, amount="100.00"), "100.00")
    with pytest.raises(IntegrityError), transaction.atomic():
        _allocate(match, make_document(xero, amount="100.00"), "50.01")


def test_cents_add_up_exactly(xero):
    """Ten allocations of 0.10 fill 1.00 exactly; rounding noise never refuses a fit."""
    invoice = make_document(xero, amount="1.00")
    for _ in range(10):
        payment = make_document(xero, DocumentKind.PAYMENT, amount="0.10")
        _allocate(make_match(payment, status=MatchStatus.CONFIRMED), invoice, "0.10")
    payment = make_document(xero, DocumentKind.PAYMENT, amount="0.01")
    with pytest.raises(IntegrityError), transaction.atomic():
        _allocate(make_match(payment, status=MatchStatus.CONFIRMED), invoice, "0.01")


def test_inactive_allocations_do_not_count_until_activated(xero):
    invoice = make_document(xero, amount="100.00")
    suggestions = []
    for _ in range(3):  # three suggestions of the full amount may coexist
        payment = make_document(xero, DocumentKind.PAYMENT, amount="100.00")
        suggestions.append(_allocate(make_match(payment), invoice, "100.00", active=False))
    suggestions[0].active = True
    suggestions[0].save()
    suggestions[1].active = True
    with pytest.raises(IntegrityError), transaction.atomic():
        suggestions[1].save()


def test_foreign_currency_allocation_checks_each_side_in_its_currency(xero):
    invoice = make_document(xero, amount="100.00", currency="USD")
    payment = make_document(xero, DocumentKind.PAYMENT, amount="80.00", currency="GBP")
    match = make_match(payment, status=MatchStatus.CONFIRMED)
    _allocate(match, invoice, "100.00", payment_amount="79.50")
    assert invoice.allocations.get().payment_amount == Decimal("79.5000")


def test_document_amounts_and_currencies_are_checked(xero):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_document(xero, amount="-1.00")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_document(xero, currency="gbp")
    assert LedgerDocument.objects.count() == 0
