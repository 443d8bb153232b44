"""The review queue in a browser: a finance user fixes an invoice whose account code Xero does
not have by editing the payload and retrying, and sees the exception resolve; bulk retry; the
auditor's trail."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import expect

from integrations.models import ExceptionStatus, RunStatus, RunTrigger, SyncException, SyncRun
from integrations.roles import AUDITORS, FINANCE
from tests.browser.conftest import SCREENSHOTS

pytestmark = pytest.mark.django_db(transaction=True)


def _person(name: str, group: str) -> User:
    user = User.objects.create_user(name, is_staff=True, first_name=name.title())
    user.groups.add(Group.objects.get(name=group))
    return user


def _run_queued_retries() -> list[SyncRun]:
    """What a worker would do with the queued retry runs (no cluster runs beside the tests)."""
    from integrations.engine.pipeline import run_execute
    from integrations.services.runs import run_claim

    return [run_execute(run_claim(run_id=run.pk))
            for run in SyncRun.objects.filter(trigger=RunTrigger.RETRY, status=RunStatus.QUEUED)]


def test_finance_fixes_an_unknown_account_code_by_edit_and_retry(browser_as, live_server, settings):
    pytest.importorskip("sandbox.tims.services", reason="the sandbox app is off (SANDBOX_ENABLED=false)")
    from integrations.engine.pipeline import run_execute
    from integrations.mapping_templates import templates_install
    from integrations.models import Flow, MappingSet, RecordLink, ValueMapEntry
    from integrations.services.runs import flow_run_request, run_claim
    from sandbox.models import XeroInvoice
    from tests.sandboxes import tims_connection, xero_connection

    settings.SANDBOX_BASE_URL = f"{live_server.url}/sandbox"
    templates_install()
    tims, _site = tims_connection("acme", seed=1)
    xero, tenant = xero_connection("Acme Gases Ltd")

    def run(template: str, slug: str) -> Flow:
        mapping = MappingSet.objects.get(name=template)
        flow = Flow.objects.create(slug=slug, name=template, source_connection=tims, source_entity=mapping.source_entity,
                                   target_connection=xero, target_entity=mapping.target_entity, mapping_set=mapping,
                                   batch_size=50, enabled=True)
        run_execute(run_claim(run_id=flow_run_request(flow=flow, trigger="manual", enqueue=False).pk))
        return flow

    run("TIMS customers → Xero contacts", "customers")
    run("TIMS products → Xero items", "products")
    # Someone mapped a product category to an account Xero's chart does not have.
    entry = ValueMapEntry.objects.filter(value_map__name__icontains="categor", target_value="200").first()
    entry.target_value = "2999"
    entry.save()
    orders = run("TIMS sales orders → Xero invoices", "orders")
    exception = SyncException.objects.filter(flow=orders, code="validation.account_code").first()
    assert exception is not None and "2999" in str(exception.transformed_payload)

    page = browser_as(_person("fiona", FINANCE))
    page.goto("/admin/integrations/openexception/?code=validation.account_code")
    expect(page.locator("#changelist-filter .codes-panel")).to_contain_text("validation.account_code")
    page.screenshot(path=str(SCREENSHOTS / "queue-filtered-by-code.png"), full_page=True)
    page.get_by_role("link", name=re.compile(re.escape(exception.record_ref))).first.click()
    expect(page.locator(".problem")).to_contain_text("2999")
    page.get_by_role("link", name="Edit and retry").click()
    expect(page.get_by_role("heading", name="Original (as mapped)")).to_be_visible()

    wrong = page.locator(".payload-table input[value='2999']").all()
    assert wrong
    for field in wrong:
        field.fill("200")
    expect(page.locator("#json-status")).to_have_text("valid JSON")
    page.screenshot(path=str(SCREENSHOTS / "queue-edit-and-retry.png"), full_page=True)
    page.get_by_role("button", name="Save and retry").click()
    expect(page.locator(".messagelist")).to_contain_text("Saved your edit")
    expect(page.locator(".problem .badge")).to_have_text("Retrying")

    [retry] = _run_queued_retries()
    assert retry.created_count == 1, retry.error_message
    page.reload()
    expect(page.locator(".problem .badge")).to_have_text("Resolved by a later success")
    exception.refresh_from_db()
    assert exception.status == ExceptionStatus.AUTO_RESOLVED
    assert "2999" in str(exception.transformed_payload) and "2999" not in str(exception.edited_payload)
    link = RecordLink.objects.get(source_type="sales_order", source_id=exception.record_id, state="linked")
    codes = set(XeroInvoice.objects.get(tenant=tenant, invoice_id=link.target_id).lines.values_list("account_code", flat=True))
    assert "200" in codes and "2999" not in codes


def test_finance_retries_several_exceptions_at_once(browser_as):
    from tests.factories import make_exception, make_flow

    flow = make_flow(name="TIMS orders → Xero invoices")
    chosen = [make_exception(flow, record_ref=f"SO-10{n}", code="xero.transient", error_class="transient")
              for n in range(3)]
    untouched = make_exception(flow, record_ref="SO-200", code="xero.validation.tax_type")
    page = browser_as(_person("fiona", FINANCE))
    page.goto("/admin/integrations/openexception/")
    expect(page.locator("#result_list tbody tr")).to_have_count(4)
    for exception in chosen:
        page.locator(f"input[name='_selected_action'][value='{exception.pk}']").check()
    page.locator("select[name='action']").select_option("retry_selected")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist")).to_contain_text("Retrying 3 exception(s): queued a retry run of "
                                                         "TIMS orders → Xero invoices")
    expect(page.locator("#result_list .badge-retrying")).to_have_count(3)
    assert set(SyncException.objects.filter(status=ExceptionStatus.RETRYING).values_list("pk", flat=True)) == {
        e.pk for e in chosen}
    assert SyncException.objects.get(pk=untouched.pk).status == ExceptionStatus.OPEN
    assert SyncRun.objects.filter(flow=flow, trigger=RunTrigger.RETRY, status=RunStatus.QUEUED).count() == 1


def test_an_auditor_reads_the_trail_of_a_record_and_cannot_act(browser_as):
    from tests.factories import make_exception, make_flow
    from integrations.services.exceptions import exception_resolve

    flow = make_flow(name="TIMS orders → Xero invoices")
    exception = make_exception(flow, record_ref="SO-0042", record_id="so-42")
    exception_resolve(exceptions=[exception], note="Entered by hand in Xero", actor=_person("fiona", FINANCE))
    page = browser_as(_person("ada", AUDITORS))
    page.goto("/admin/integrations/resolvedexception/")
    page.get_by_role("link", name=re.compile("SO-0042")).click()
    expect(page.locator(".queue-actions")).to_have_count(0)
    page.get_by_role("link", name="Audit trail").click()
    expect(page.locator("#result_list")).to_contain_text("fiona resolved salesorder SO-0042")
    page.get_by_text("Details").first.click()
    expect(page.locator("#result_list")).to_contain_text("Entered by hand in Xero")
