"""A new record's pending link is born claimed by its run: no second write before the create,
and a run the reaper gave up on still sends nothing its resume run owns."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.engine.pipeline import FlowRunner, LoadAction, RunSuperseded, load_action, run_execute
from integrations.models import ApiCall, LinkState, RecordLink, SyncRun
from integrations.services.runs import flow_run_request, run_claim, runs_reap
from tests.integrations.engine.test_flows_tims_xero import _flow, _run, systems  # noqa: F401  (fixture)

pytest.importorskip("sandbox.tims.services", reason="the sandbox app is off (SANDBOX_ENABLED=false)")
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def orders_flow(systems):
    tims, _, xero, _ = systems
    _run(_flow(tims, xero, "TIMS customers → Xero contacts", "customers"))
    _run(_flow(tims, xero, "TIMS products → Xero items", "products"))
    return _flow(tims, xero, "TIMS sales orders → Xero invoices", "orders")


def _invoices(systems):
    from sandbox.models import XeroInvoice

    return XeroInvoice.objects.filter(tenant=systems[3], type="ACCREC")


def test_new_links_are_born_claimed_and_cost_no_claim_update(systems, orders_flow):
    run = run_claim(run_id=flow_run_request(flow=orders_flow, trigger="manual", enqueue=False).pk)
    runner = FlowRunner(orders_flow, run)
    records = list(runner.source.list_records("sales_order"))
    with CaptureQueriesContext(connection) as queries:
        report = runner.process(records)
    assert report.created > 0 and _invoices(systems).count() == report.created
    link_updates = [q["sql"] for q in queries if 'UPDATE "integrations_recordlink"' in q["sql"]]
    # Only the linking write after Xero's answer (one statement on PostgreSQL, one per link
    # elsewhere), never a claim write setting last_run alone.
    assert link_updates and not [sql for sql in link_updates if 'SET "last_run_id" = ' in sql and "target_id" not in sql]
    created = RecordLink.objects.filter(source_type="sales_order", state=LinkState.LINKED)
    assert created.count() == report.created and set(created.values_list("last_run", flat=True)) == {run.pk}


def test_a_link_born_in_a_run_the_reaper_gave_up_on_is_looked_up_then_created_once(systems, orders_flow):
    """The stalled run's batch made its links (born claimed by it), then the reaper marked it
    crashed: the run sends nothing, and its resume run looks each record up before creating it,
    once."""
    stalled = run_claim(run_id=flow_run_request(flow=orders_flow, trigger="schedule", enqueue=False).pk)
    runner = FlowRunner(orders_flow, stalled)
    records = list(runner.source.list_records("sales_order"))
    original_claim = runner._claim

    def reaped_then_claim(creates):
        SyncRun.objects.filter(pk=stalled.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
        runs_reap()
        return original_claim(creates)

    runner._claim = reaped_then_claim
    with pytest.raises(RunSuperseded):
        runner.process(records)
    born = RecordLink.objects.filter(source_type="sales_order", state=LinkState.PENDING, last_run=stalled)
    pending = born.count()
    assert pending > 0 and _invoices(systems).count() == 0
    for link in born:  # what the next run makes of them: a create that may have landed
        assert load_action("send", "digest", link) == LoadAction.SETTLE

    resumed = run_execute(run_claim(run_id=SyncRun.objects.get(trigger="resume").pk))
    assert resumed.created_count == pending
    lookups = ApiCall.objects.filter(run=resumed, method="GET", path__icontains="invoices")
    assert lookups.exists(), "the resume run creates without looking the records up first"
    numbers = list(_invoices(systems).values_list("invoice_number", flat=True))
    assert len(numbers) == len(set(numbers)) == resumed.created_count
    assert RecordLink.objects.filter(source_type="sales_order", state=LinkState.LINKED).count() == resumed.created_count


def test_a_born_link_is_a_create_for_its_own_batch_only():
    link = RecordLink(state=LinkState.PENDING, last_run_id=7)
    assert load_action("send", "digest", link, born=True) == LoadAction.CREATE
    assert load_action("send", "digest", link) == LoadAction.SETTLE
    assert load_action("void", "digest", link, born=True) == LoadAction.NEVER_SENT
