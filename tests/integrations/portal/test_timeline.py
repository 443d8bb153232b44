"""The record timeline: one story across TIMS and Xero, newest first, with links to both
systems, old → new values, pages that lose nothing, and the right people allowed to see it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from integrations.models import AuditEvent, AuditSource, Environment
from integrations.services.timeline import record_timeline, timeline_url
from tests.integrations.portal.timeline_story import INVOICE_ID, ORDER_ID, SECRET, make_story
from tests.integrations.portal.timeline_story import story, users  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def _kinds_and_titles(timeline):
    return [(entry.kind, entry.title) for entry in timeline.entries]


def test_both_systems_tell_one_story(story):
    from_order = record_timeline(system="tims", object_type="sales_order", object_id=ORDER_ID)
    from_invoice = record_timeline(system="xero", object_type="invoice", object_id=INVOICE_ID)

    assert _kinds_and_titles(from_order) == _kinds_and_titles(from_invoice)
    kinds = [entry.kind for entry in from_order.entries]
    assert sorted(set(kinds)) == ["api_call", "audit", "exception", "match", "run"]
    times = [entry.at for entry in from_order.entries]
    assert times == sorted(times, reverse=True), "newest first"
    # Both records, both systems.
    assert {(r.key.system, r.key.type, r.key.id) for r in from_order.records} == {
        ("tims", "sales_order", ORDER_ID), ("xero", "invoice", INVOICE_ID)}
    assert [link.pk for link in from_order.links] == [story.link.pk]
    # Both runs that touched it, the one API call naming the invoice (not the other), the match.
    runs = [entry.run_id for entry in from_order.entries if entry.kind == "run"]
    assert sorted(runs) == sorted([story.run.pk, story.failed_run.pk])
    calls = [entry.title for entry in from_order.entries if entry.kind == "api_call"]
    assert calls == [f"GET /api.xro/2.0/Invoices/{INVOICE_ID} \u2192 200"]
    assert any("another-invoice" in e.title for e in from_order.entries) is False
    assert any("SO-1002" in e.detail for e in from_order.entries) is False
    match_entry = next(entry for entry in from_order.entries if entry.kind == "match")
    assert "confirmed" in match_entry.title and "INV-0042" in match_entry.detail


def test_the_story_in_order(story):
    timeline = record_timeline(system="tims", object_type="sales_order", object_id=ORDER_ID)
    assert [(entry.kind, entry.title.split(":")[0]) for entry in timeline.entries] == [
        ("match", "Match confirmed"),
        ("audit", "Updated invoice SO-1001 in the target system"),
        ("audit", "sales_order SO-1001 synced; its exception closed"),
        ("audit", "Created invoice SO-1001 in the target system"),
        ("api_call", f"GET /api.xro/2.0/Invoices/{INVOICE_ID} \u2192 200"),
        ("run", f"Run #{story.run.pk} of TIMS orders to Xero invoices (retry)"),
        ("exception", "Exception at load"),
        ("audit", "sales_order SO-1001 went to the review queue"),
        ("run", f"Run #{story.failed_run.pk} of TIMS orders to Xero invoices (schedule)"),
    ]
    systems = {entry.system for entry in timeline.entries if entry.kind in ("audit", "exception", "api_call")}
    assert systems == {"tims", "xero"}


def test_old_and_new_values_of_an_update(story):
    timeline = record_timeline(system="xero", object_type="invoice", object_id=INVOICE_ID)
    update = next(entry for entry in timeline.entries if entry.kind == "audit" and "Updated" in entry.title)
    assert [(c.field, c.before, c.after) for c in update.changes] == [
        ("AmountDue", "120.00", "0.00"), ("Status", "AUTHORISED", "PAID")]
    create = next(entry for entry in timeline.entries if entry.kind == "audit" and "Created" in entry.title)
    assert ("Total", "\u2014", "120.00") in [(c.field, c.before, c.after) for c in create.changes]


def test_sandbox_records_link_to_the_sandbox_pages(story):
    timeline = record_timeline(system="tims", object_type="sales_order", object_id=ORDER_ID)
    urls = {record.key.system: record.external_url for record in timeline.records}
    assert urls["xero"] == reverse("admin:sandbox_xeroinvoice_changelist") + f"?invoice_id={INVOICE_ID}"
    assert urls["tims"] == reverse("admin:sandbox_timssalesorder_change", args=[ORDER_ID])


def test_production_records_link_to_xero_itself():
    make_story(environment=Environment.PRODUCTION)
    timeline = record_timeline(system="tims", object_type="sales_order", object_id=ORDER_ID)
    urls = {record.key.system: record.external_url for record in timeline.records}
    assert urls["xero"] == f"https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID={INVOICE_ID}"
    assert urls["tims"] == ""  # TIMS has no web page of its own to link to


def test_pages_cover_everything_exactly_once(story):
    # Thirty more events on the invoice, then page through three at a time.
    base = story.at["paid"]
    for n in range(30):
        AuditEvent.objects.create(created_at=base + timedelta(seconds=n + 1), action="record.unchanged",
                                  source=AuditSource.WORKER, object_system="xero", object_type="invoice",
                                  object_id=INVOICE_ID, object_ref="SO-1001", flow=story.flow)
    whole = record_timeline(system="tims", object_type="sales_order", object_id=ORDER_ID, page_size=1000)
    seen, cursor, pages = [], "", 0
    while True:
        page = record_timeline(system="tims", object_type="sales_order", object_id=ORDER_ID, cursor=cursor,
                               page_size=3)
        seen += [(e.kind, e.sort_id) for e in page.entries]
        pages += 1
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert pages == 12  # 34 audit events, three a page
    assert seen == [(e.kind, e.sort_id) for e in whole.entries]
    assert len(seen) == len(set(seen))


def test_page_reads_a_bounded_number_of_queries(story, django_assert_max_num_queries):
    with django_assert_max_num_queries(25):
        record_timeline(system="tims", object_type="sales_order", object_id=ORDER_ID)


@pytest.mark.parametrize("role,kinds,hidden", [
    ("finance", {"audit", "exception", "run", "match"}, "API calls"),
    ("integrator", {"audit", "exception", "run", "api_call"}, "matches"),
    ("auditor", {"audit", "exception", "run", "api_call", "match"}, None),
])
def test_every_role_sees_the_timeline_and_no_secret(client, story, users, role, kinds, hidden):
    client.force_login(users[role])
    response = client.get(timeline_url(system="xero", object_type="invoice", object_id=INVOICE_ID))
    assert response.status_code == 200
    body = response.content.decode()
    assert "SO-1001" in body and "INV-0042" in body and "AUTHORISED" in body and "PAID" in body
    assert f"?invoice_id={INVOICE_ID}" in body and f"/admin/sandbox/timssalesorder/{ORDER_ID}/change/" in body
    assert SECRET not in body
    # Each role sees the kinds of entries its permissions allow, and is told what is left out.
    assert set(re.findall(r'data-kind="(\w+)"', body)) == kinds
    if hidden:
        assert f"Not shown, as your role may not view them: {hidden}." in body
    else:
        assert "Not shown" not in body
    content = body.split('id="content-main"')[1]
    assert content.count("<form") == 2 and "<button" not in content  # the two search forms, nothing to act with


def test_people_without_the_audit_trail_are_refused(client, story, users):
    client.force_login(users["nobody"])
    response = client.get(timeline_url(system="xero", object_type="invoice", object_id=INVOICE_ID))
    assert response.status_code == 403


def test_anonymous_people_are_sent_to_sign_in(client, story):
    response = client.get(timeline_url(system="xero", object_type="invoice", object_id=INVOICE_ID))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_reference_finds_its_record(client, story, users):
    client.force_login(users["auditor"])
    response = client.get(reverse("integrations:timeline"), {"q": "INV-0042"})
    assert response.status_code == 302
    assert response["Location"] == timeline_url(system="xero", object_type="invoice", object_id=INVOICE_ID)
    missing = client.get(reverse("integrations:timeline"), {"q": "SO-404"})
    assert "No synced record has the reference" in missing.content.decode()


def test_a_record_without_links_still_has_its_events(client, users):
    AuditEvent.objects.create(action="record.skipped", source=AuditSource.WORKER, object_system="tims",
                              object_type="customer", object_id="rec_cu_1", object_ref="CUST-1",
                              data={"reason": "inactive"})
    timeline = record_timeline(system="tims", object_type="customer", object_id="rec_cu_1")
    assert [entry.title for entry in timeline.entries] == ["Skipped customer CUST-1: inactive"]
    assert timeline.links == [] and len(timeline.records) == 1


def test_run_page_links_each_record_to_its_timeline(client, story, users):
    client.force_login(users["finance"])
    body = client.get(reverse("integrations:monitor_run", args=[story.run.pk])).content.decode()
    assert timeline_url(system="xero", object_type="invoice", object_id=INVOICE_ID).replace("&", "&amp;") in body


def test_pages_that_name_a_record_link_to_its_timeline():
    from django.template import Context, Template

    html = Template('{% load ops %}{% timeline_link "xero" "invoice" invoice_id %}').render(
        Context({"invoice_id": INVOICE_ID}))
    assert html == f'<a href="{reverse("integrations:timeline")}?system=xero&amp;type=invoice&amp;id={INVOICE_ID}">Timeline</a>'
    assert Template('{% load ops %}{% timeline_link "xero" "invoice" "" %}').render(Context()) == ""
