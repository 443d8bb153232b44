"""An auditor follows one record's story in the browser and cannot act on it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integrations.models import SyncRun
from integrations.services.timeline import timeline_url
from tests.integrations.portal.timeline_story import INVOICE_ID, ORDER_ID, SECRET, make_story, role_users

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_auditor_browses_a_records_timeline_and_cannot_act(browser_as):
    story = make_story()
    auditor = role_users()["auditor"]
    page = browser_as(auditor)

    page.goto("/admin/")
    page.get_by_role("link", name="Record timeline").click()
    page.get_by_label("Or a reference (SO-1001, INV-0042)").fill("SO-1001")
    page.get_by_role("button", name="Find").click()
    page.wait_for_url(f"**{reverse('integrations:timeline')}?system=tims*")
    assert ORDER_ID in page.url

    assert page.get_by_role("heading", name="Timeline of TIMS ERP sales order SO-1001").is_visible()
    # Both systems, one story: the order's failure and the invoice's creation and payment.
    entries = page.locator("ol.timeline > li")
    assert entries.count() == 9
    texts = entries.all_inner_texts()
    assert any("went to the review queue" in text for text in texts)
    assert any("Created invoice SO-1001" in text for text in texts)
    assert any("Match confirmed" in text for text in texts)
    # Old → new values of the payment.
    update = entries.filter(has_text="Updated invoice SO-1001")
    assert update.locator("td.old").all_inner_texts() == ["120.00", "AUTHORISED"]
    assert update.locator("td.new").all_inner_texts() == ["0.00", "PAID"]
    # Links to both records where they live.
    assert page.get_by_role("link", name="Open in the Xero sandbox").get_attribute("href").endswith(
        f"?invoice_id={INVOICE_ID}")
    assert page.get_by_role("link", name="Open in the TIMS ERP sandbox").is_visible()

    # Nothing to press: no action buttons in the content, only the two search forms.
    content = page.locator("#content-main")
    assert content.locator("button").count() == 0
    assert sorted(content.locator("input[type=submit]").evaluate_all("els => els.map(e => e.value)")) == [
        "Find", "Show timeline"]
    assert SECRET not in page.content()

    # Over to the invoice's own timeline: the same story.
    page.get_by_role("link", name="Its own timeline").click()
    page.wait_for_url(f"**id={INVOICE_ID}*")
    assert page.locator("ol.timeline > li").count() == 9

    # The monitor shows no buttons to an auditor, and a forged POST (with a valid CSRF token) is refused.
    page.goto(reverse("integrations:monitor"))
    assert page.locator("#content-main button").count() == 0
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    answer = page.request.post(reverse("integrations:monitor_flow_action", args=[story.flow.pk, "run-now"]),
                               headers={"X-CSRFToken": token, "Referer": page.url}, form={"next": "/"})
    assert answer.status == 403
    assert not SyncRun.objects.filter(trigger="manual").exists()
    page.goto(timeline_url(system="tims", object_type="sales_order", object_id=ORDER_ID))
