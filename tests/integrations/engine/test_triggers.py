"""Triggers and workers: webhooks (signature, intent to receive, inbox, dedup, a run per
delivery), schedules kept in step with flows, the reaper, retry runs, run_flow, Run now."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from integrations.engine.pipeline import run_execute
from integrations.models import AuditEvent, Flow, SyncException, SyncRun, WebhookDelivery
from integrations.services.connections import connection_credentials_update
from integrations.services.runs import flow_run_request, run_claim, runs_reap
from integrations.services.webhooks import webhook_process
from tests.integrations.engine.test_pipeline_xero_to_xero import _seed_contacts, _target_contacts

sandbox = pytest.importorskip("sandbox.xero.services", reason="the sandbox app is off (SANDBOX_ENABLED=false)")
pytestmark = pytest.mark.django_db(transaction=True)

from tests.integrations.engine.test_pipeline_xero_to_xero import contacts_flow, orgs  # noqa: E402,F401  (fixtures)


def test_a_xero_webhook_asks_for_one_run_and_a_redelivery_is_a_duplicate(orgs, contacts_flow, live_server):
    from sandbox.models import XeroApp, XeroContact
    from sandbox.xero.webhooks import deliver_pending, intent_to_receive, record_events

    source, source_tenant, _, _ = orgs
    app = XeroApp.objects.get(client_id=source.get_credentials()["client_id"])
    connection_credentials_update(connection=source, values={"webhook_key": app.webhook_key})
    sandbox.xero_app_set_webhook(app=app, url=f"{live_server.url}{reverse('integrations:webhook_inbox', args=[source.pk])}")
    assert intent_to_receive(app).ok  # right signature → 200, wrong → 401
    assert WebhookDelivery.objects.filter(status="rejected").count() == 2

    contact = XeroContact.objects.create(tenant=source_tenant, name="Webhook Ltd")
    record_events(tenant=source_tenant, events=[("CONTACT", "CREATE", contact.contact_id)])
    assert deliver_pending().sent == 1
    delivery = WebhookDelivery.objects.get(status="received")
    assert delivery.signature_valid and len(delivery.event_ids) == 1
    assert "authorization" not in delivery.headers

    [run] = webhook_process(delivery_id=delivery.pk)
    assert run.trigger == "webhook" and run.status == "queued"
    assert webhook_process(delivery_id=delivery.pk) == []  # a redelivered task does nothing

    # Xero delivers the same events again (at least once): stored as a duplicate, no second run.
    from sandbox.models import XeroWebhookEvent
    XeroWebhookEvent.objects.update(status=XeroWebhookEvent.Status.PENDING, next_attempt_at=timezone.now())
    deliver_pending()
    assert WebhookDelivery.objects.filter(status="duplicate").count() == 1
    assert SyncRun.objects.count() == 1

    run_execute(run_claim(run_id=run.pk))
    assert _target_contacts(orgs[3]).filter(name="Webhook Ltd").exists()


def test_webhooks_while_a_run_is_active_ask_for_exactly_one_more(orgs, contacts_flow):
    first = flow_run_request(flow=contacts_flow, trigger="webhook", enqueue=False)
    assert flow_run_request(flow=contacts_flow, trigger="webhook", enqueue=False) is None
    assert flow_run_request(flow=contacts_flow, trigger="webhook", enqueue=False) is None
    assert Flow.objects.get(pk=contacts_flow.pk).rerun_requested
    run_execute(run_claim(run_id=first.pk))
    follow_up = SyncRun.objects.exclude(pk=first.pk)
    assert follow_up.count() == 1 and follow_up.get().status == "queued"


def test_polling_schedules_follow_the_flow(contacts_flow):
    contacts_flow.interval_minutes = 5
    contacts_flow.save()
    schedule = Schedule.objects.get(name=f"flow:{contacts_flow.pk}")
    assert (schedule.func, schedule.minutes, schedule.args) == (
        "integrations.tasks.flow_scheduled_run_task", 5, str(contacts_flow.pk))
    contacts_flow.cron, contacts_flow.interval_minutes = "*/10 * * * *", None
    contacts_flow.save()
    assert Schedule.objects.get(name=f"flow:{contacts_flow.pk}").cron == "*/10 * * * *"
    contacts_flow.enabled = False
    contacts_flow.save()
    assert not Schedule.objects.filter(name=f"flow:{contacts_flow.pk}").exists()
    assert Schedule.objects.filter(name="ledgerbridge:reap-runs").exists()


def test_the_reaper_marks_silent_runs_crashed_and_resumes_them(orgs, contacts_flow):
    _seed_contacts(orgs[1], 3)
    run = run_claim(run_id=flow_run_request(flow=contacts_flow, trigger="schedule", enqueue=False).pk)
    SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    [reaped] = runs_reap()
    assert SyncRun.objects.get(pk=reaped.pk).status == "crashed"
    resumed = SyncRun.objects.get(trigger="resume")
    assert resumed.status == "queued"
    assert AuditEvent.objects.filter(action="run.crashed", run=run).exists()
    assert run_execute(run_claim(run_id=resumed.pk)).created_count == 3


def test_a_retry_run_rereads_only_the_due_records_and_resolves_them(orgs, contacts_flow):
    from sandbox.common.faults import fault_setting_update

    _, source_tenant, _, target_tenant = orgs
    _seed_contacts(source_tenant, 3)
    fault_setting_update(system="xero", tenant_key=str(target_tenant.tenant_id), error_rate=1.0, error_status=503, seed=3)
    failed = run_execute(run_claim(run_id=flow_run_request(flow=contacts_flow, trigger="manual", enqueue=False).pk))
    assert failed.failed_count == 3
    assert set(SyncException.objects.values_list("status", "error_class")) == {("retrying", "transient")}
    fault_setting_update(system="xero", tenant_key=str(target_tenant.tenant_id), error_rate=0.0)

    SyncException.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    retry = flow_run_request(flow=contacts_flow, trigger="retry", enqueue=False)
    retry = run_execute(run_claim(run_id=retry.pk))
    assert (retry.read_count, retry.created_count, retry.failed_count) == (3, 3, 0)
    assert set(SyncException.objects.values_list("status", flat=True)) == {"auto_resolved"}
    assert _target_contacts(target_tenant).count() == 3


def test_run_flow_command_prints_a_summary(orgs, contacts_flow):
    _seed_contacts(orgs[1], 4)
    out = StringIO()
    call_command("run_flow", contacts_flow.slug, "--full", stdout=out)
    assert "Succeeded: read 4, created 4, updated 0, unchanged 0, skipped 0, failed 0" in out.getvalue()


def test_run_now_and_pause_from_admin_are_audited(client, contacts_flow):
    admin = User.objects.create_superuser("root", password="pw")
    client.force_login(admin)
    url = reverse("admin:integrations_flow_changelist")
    client.post(url, {"action": "run_now", "_selected_action": [contacts_flow.pk]})
    assert SyncRun.objects.filter(flow=contacts_flow, trigger="manual", triggered_by=admin).count() == 1
    client.post(url, {"action": "pause", "_selected_action": [contacts_flow.pk]})
    contacts_flow.refresh_from_db()
    assert not contacts_flow.enabled
    assert AuditEvent.objects.filter(action="flow.paused", actor=admin).count() == 1


def test_a_run_the_reaper_gave_up_on_sends_nothing_its_resume_run_owns(orgs, contacts_flow):
    """A worker stalls past the heartbeat limit; the reaper marks its run crashed and queues a
    resume run. When the stalled worker wakes, it must not send the creates the resume run now
    owns: it stops, and the resume run creates each contact once."""
    from integrations.engine.pipeline import FlowRunner, RunSuperseded

    _, source_tenant, _, target_tenant = orgs
    _seed_contacts(source_tenant, 3)
    stalled = run_claim(run_id=flow_run_request(flow=contacts_flow, trigger="schedule", enqueue=False).pk)
    runner = FlowRunner(contacts_flow, stalled)
    records = list(runner.source.list_records("contact"))
    SyncRun.objects.filter(pk=stalled.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    runs_reap()
    with pytest.raises(RunSuperseded):
        runner.process(records)  # the stalled worker wakes up mid-run
    assert _target_contacts(target_tenant).count() == 0
    resumed = run_execute(run_claim(run_id=SyncRun.objects.get(trigger="resume").pk))
    assert resumed.created_count == 3 and _target_contacts(target_tenant).count() == 3


def test_pending_links_made_meanwhile_by_another_path_are_taken_not_doubled(orgs, contacts_flow):
    """The insert of a batch's new pending links gives their keys; when another path made one
    of them in between (a webhook run, a retry), that insert fails as a whole and the batch
    takes the link that exists, inserting only the others."""
    from integrations.engine.pipeline import FlowRunner
    from integrations.models import LinkState, RecordLink

    flow = contacts_flow
    runner = FlowRunner(flow, None)

    def pending(source_id: str) -> RecordLink:
        return RecordLink(source_connection=flow.source_connection, source_type=flow.source_entity, source_id=source_id,
                          source_ref=source_id, target_connection=flow.target_connection,
                          target_type=flow.target_entity, state=LinkState.PENDING)

    fresh = runner._links_create([pending("a"), pending("b")])
    assert sorted(link.source_id for link in fresh) == ["a", "b"] and all(link.pk for link in fresh)
    made_meanwhile = pending("d")
    made_meanwhile.save()
    taken = {link.source_id: link for link in runner._links_create([pending("c"), pending("d")])}
    assert sorted(taken) == ["c", "d"] and taken["d"].pk == made_meanwhile.pk
    assert RecordLink.objects.filter(source_type=flow.source_entity).count() == 4
