"""A finance user on the reconciliation screen: from the admin home to the screen, a suggested
match confirmed from the keyboard, a payment split across two invoices."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User

from integrations.models import System
from integrations.roles import FINANCE, roles_sync
from reconciliation.models import DocumentKind, MatchAllocation, MatchBand, MatchStatus
from tests.browser.conftest import SCREENSHOTS
from tests.factories import make_connection, make_document, make_match

pytestmark = pytest.mark.django_db(transaction=True)


def _books():
    xero = make_connection(name="Xero Pennine Gases")
    tims = make_connection(name="TIMS Leeds", system=System.TIMS, auth_kind="oauth2_client")
    contact = {"contact_name": "Pennine Pipework PLC", "contact_key": "k:pennine"}
    invoices = {
        number: make_document(xero, amount=amount, number=number, issue_date=date(2026, 11, day), due_date=date(2026, 12, day),
                              amount_due=Decimal(amount), **contact)
        for number, amount, day in (("INV-0301", "300.00", 2), ("INV-0302", "180.00", 3), ("INV-0303", "120.00", 4))
    }
    bank_line = make_document(xero, DocumentKind.BANK_LINE, amount="300.00", number="", reference="BACS PENNINE INV-0301",
                              issue_date=date(2026, 11, 12), **contact)
    for rank, (number, score, reasons) in enumerate((
        ("INV-0301", "0.9640", [("reference", "INV-0301 in the reference"), ("amount", "same amount"),
                                ("contact", "same contact")]),
        ("INV-0302", "0.3810", [("contact", "same contact"), ("date", "10 days before")]),
    ), start=1):
        match = make_match(bank_line, band=MatchBand.SUGGESTED, rank=rank, score=Decimal(score),
                           reasons=[{"feature": f, "detail": d, "weight": 0.3} for f, d in reasons])
        amount = invoices[number].amount
        MatchAllocation.objects.create(match=match, document=invoices[number], amount=amount, payment_amount=amount)
    receipt = make_document(tims, DocumentKind.PAYMENT, amount="300.00", number="PAY-000812",
                            reference="Remittance 0812 two invoices", issue_date=date(2026, 11, 14), **contact)
    return invoices, bank_line, receipt


def test_finance_confirms_a_suggestion_and_splits_a_payment(browser_as):
    roles_sync()
    invoices, bank_line, receipt = _books()
    user = User.objects.create_user("fiona", is_staff=True)
    user.groups.add(Group.objects.get(name=FINANCE))

    page = browser_as(user)
    page.goto("/admin/")
    page.get_by_role("link", name="Reconciliation screen").click()
    page.wait_for_url("**/reconciliation/")
    assert page.get_by_role("heading", name="Reconciliation", exact=True).is_visible()
    first = page.locator(f"#payment-{bank_line.pk}")
    assert "96%" in first.inner_text() and "INV-0301 in the reference" in first.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "reconciliation-screen-suggestions.png"), full_page=True)

    # The help, then j to the first suggestion and c to confirm it.
    page.keyboard.press("?")
    assert page.locator("#recon-help").is_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    assert page.locator(".recon-row.is-current").get_attribute("data-match") is not None
    with page.expect_navigation():
        page.keyboard.press("c")
    assert page.locator(".messagelist .success").first.inner_text().startswith("Confirmed")
    confirmed = bank_line.matches.get(status=MatchStatus.CONFIRMED)
    assert confirmed.rank == 1 and [a.document.number for a in confirmed.allocations.filter(active=True)] == ["INV-0301"]

    # The TIMS receipt has no suggestion: split it across the two other invoices.
    card = page.locator(f"#payment-{receipt.pk}")
    assert card.locator("details.recon-split").get_attribute("open") is not None
    card.get_by_label("INV-0302").fill("180.00")
    card.get_by_label("INV-0303").fill("120")
    assert card.locator("output[data-allocated]").inner_text() == "300.00"
    assert card.locator("output[data-left]").inner_text() == "0.00"
    with page.expect_navigation():
        card.get_by_role("button", name="Allocate").click()
    assert "Split" in page.locator(".messagelist .success").first.inner_text()
    split = receipt.matches.get(status=MatchStatus.CONFIRMED)
    assert sorted((a.document.number, a.amount) for a in split.allocations.filter(active=True)) == [
        ("INV-0302", Decimal("180.0000")), ("INV-0303", Decimal("120.0000"))]

    # Both now show as matched, waiting to be posted, with an undo.
    matched = page.locator("table.recon-matched")
    assert matched.locator("tr.recon-confirmed").count() == 2
    assert "INV-0302" in matched.inner_text() and "INV-0301" in matched.inner_text()
    assert page.locator(".recon-empty").first.inner_text().startswith("Nothing waits")
