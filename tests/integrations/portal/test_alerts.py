"""Alerts: one message per outage by email and webhook, cleared when the condition clears and
sent again on the next outage; per-flow recipients, webhook, kinds and threshold; the webhook
URL kept secret."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import respx
from django.core import mail
from django.db import connection as db
from django.urls import reverse

from integrations.models import Alert, Connection, ExceptionStatus, FlowAlertSettings, RunStatus, SyncRun
from integrations.services.alerts import alerts_check, alerts_check_flow, flow_alert_settings_update
from integrations.services.exceptions import exception_record
from integrations.services.runs import run_finish
from tests.factories import make_exception, make_flow
from tests.integrations.portal.timeline_story import role_users

pytestmark = pytest.mark.django_db

DEFAULT_HOOK = "https://hooks.example.com/services/T000/B000/defaultsecretpath"
FLOW_HOOK = "https://hooks.example.com/services/T111/B111/flowsecretpathXyZ9"


@pytest.fixture(autouse=True)
def defaults(settings):
    settings.ALERT_EMAILS = ["ops@example.com"]
    settings.ALERT_WEBHOOK_URL = DEFAULT_HOOK
    settings.ALERT_EXCEPTION_THRESHOLD = 5


@pytest.fixture
def hooks():
    with respx.mock(assert_all_called=False) as mock:
        yield {"default": mock.post(DEFAULT_HOOK).respond(200, text="ok"),
               "flow": mock.post(FLOW_HOOK).respond(200, text="ok")}


def _finish(flow, status, capture, error="Xero answered 503 three times"):
    run = SyncRun.objects.create(flow=flow, trigger="schedule", status=RunStatus.RUNNING)
    with capture(execute=True):
        run_finish(run=run, status=status, error_message=error if status == RunStatus.FAILED else "")
    return run


def test_an_outage_alerts_once_then_clears_and_alerts_again(django_capture_on_commit_callbacks, hooks):
    flow = make_flow(name="Orders")
    for _ in range(3):
        _finish(flow, RunStatus.FAILED, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1 and hooks["default"].call_count == 1
    assert mail.outbox[0].subject == "[Ledgerbridge] A run of Orders failed"
    assert mail.outbox[0].to == ["ops@example.com"]
    assert "Xero answered 503 three times" in mail.outbox[0].body
    payload = json.loads(hooks["default"].calls.last.request.content)
    assert payload["text"].startswith("*A run of Orders failed*\n")
    alert = Alert.objects.get()
    assert (alert.occurrences, alert.notified, alert.cleared_at) == (3, ["email", "webhook"], None)

    _finish(flow, RunStatus.SUCCEEDED, django_capture_on_commit_callbacks)
    alert.refresh_from_db()
    assert alert.cleared_at is not None

    _finish(flow, RunStatus.FAILED, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 2 and hooks["default"].call_count == 2
    assert Alert.objects.filter(cleared_at__isnull=True).count() == 1 and Alert.objects.count() == 2


def test_a_partly_failed_run_ends_the_outage_too(django_capture_on_commit_callbacks, hooks):
    flow = make_flow()
    _finish(flow, RunStatus.FAILED, django_capture_on_commit_callbacks)
    _finish(flow, RunStatus.PARTIAL, django_capture_on_commit_callbacks)
    assert Alert.objects.get().cleared_at is not None


def test_flow_settings_choose_recipients_webhook_and_kinds(django_capture_on_commit_callbacks, hooks):
    flow = make_flow(name="Payments")
    flow_alert_settings_update(flow=flow, emails="ar@example.com,\ncontroller@example.com", webhook_url=FLOW_HOOK)
    _finish(flow, RunStatus.FAILED, django_capture_on_commit_callbacks)
    assert mail.outbox[0].to == ["ar@example.com", "controller@example.com"]
    assert hooks["flow"].call_count == 1 and hooks["default"].call_count == 0

    quiet = make_flow(name="Quiet")
    flow_alert_settings_update(flow=quiet, on_run_failed=False)
    _finish(quiet, RunStatus.FAILED, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1 and hooks["default"].call_count == 0
    assert Alert.objects.get(flow=quiet).notified == []  # recorded for the portal, sent nowhere


def test_reauthorisation_alerts_the_flows_of_the_connection_and_clears_on_connect(
        django_capture_on_commit_callbacks, hooks):
    from datetime import timedelta

    from django.utils import timezone

    from connectors.base import TokenSet
    from integrations.services.connections import connection_connected, connection_mark_needs_reauth

    flow = make_flow(name="Invoices", enabled=True)
    flow_alert_settings_update(flow=flow, emails="integrations@example.com", webhook_url=FLOW_HOOK)
    xero = flow.target_connection
    with django_capture_on_commit_callbacks(execute=True):
        connection_mark_needs_reauth(connection=xero, reason="invalid_grant")
        connection_mark_needs_reauth(connection=xero, reason="invalid_grant")
    assert [m.to for m in mail.outbox] == [["integrations@example.com"]]
    assert hooks["flow"].call_count == 1
    tokens = TokenSet(access_token="a", refresh_token="r", expires_at=timezone.now() + timedelta(minutes=30))
    connection_connected(connection=Connection.objects.get(pk=xero.pk), tokens=tokens, tenant_id="t", tenant_name="T",
                         tenants=[])
    assert Alert.objects.get(kind="needs_reauth").cleared_at is not None


def test_exhausted_retries_alert_once_and_clear_when_resolved(django_capture_on_commit_callbacks, hooks):
    flow = make_flow(name="Orders", retry_schedule=[60])
    with django_capture_on_commit_callbacks(execute=True):
        for record_id in ("so-1", "so-1", "so-2", "so-2"):
            exception_record(flow=flow, run=None, record_type="sales_order", record_id=record_id, stage="load",
                             error_class="transient", code="xero.unavailable", message="Xero answered 503.")
    alert = Alert.objects.get(kind="retries_exhausted")
    assert alert.occurrences == 2 and len(mail.outbox) == 1
    assert "Orders: automatic retries ran out" in mail.outbox[0].subject

    alerts_check_flow(flow=flow)
    alert.refresh_from_db()
    assert alert.cleared_at is None  # still open in the queue
    flow.exceptions.update(status=ExceptionStatus.RESOLVED)
    assert alerts_check() >= 1
    alert.refresh_from_db()
    assert alert.cleared_at is not None


def test_open_exceptions_over_the_threshold_alert_once(django_capture_on_commit_callbacks, hooks):
    flow = make_flow(name="Bills")
    for _ in range(4):
        make_exception(flow)
    with django_capture_on_commit_callbacks(execute=True):
        alerts_check()
    assert not Alert.objects.exists()
    make_exception(flow)
    with django_capture_on_commit_callbacks(execute=True):
        alerts_check()
        alerts_check()
    alert = Alert.objects.get(kind="exception_threshold")
    assert alert.subject == "Bills: 5 open exceptions" and alert.occurrences == 2 and len(mail.outbox) == 1
    # Back to four: 80 % of the threshold, not yet below it: still open (no flapping).
    flow.exceptions.filter(pk=flow.exceptions.first().pk).update(status=ExceptionStatus.RESOLVED)
    alerts_check()
    alert.refresh_from_db()
    assert alert.cleared_at is None
    flow.exceptions.filter(pk=flow.exceptions.filter(status="open").first().pk).update(status=ExceptionStatus.IGNORED)
    alerts_check()
    alert.refresh_from_db()
    assert alert.cleared_at is not None
    # The flow's own threshold wins over the default.
    flow_alert_settings_update(flow=flow, exception_threshold=2)
    with django_capture_on_commit_callbacks(execute=True):
        alerts_check()
    assert Alert.objects.filter(kind="exception_threshold", cleared_at__isnull=True).count() == 1
    assert len(mail.outbox) == 2


def test_a_failing_webhook_is_logged_without_its_url(django_capture_on_commit_callbacks, caplog):
    flow = make_flow(name="Orders")
    with respx.mock() as mock:
        mock.post(DEFAULT_HOOK).mock(side_effect=httpx.ConnectError("connection refused to " + DEFAULT_HOOK))
        with caplog.at_level(logging.ERROR, logger="integrations.services.alerts"):
            _finish(flow, RunStatus.FAILED, django_capture_on_commit_callbacks)
    assert Alert.objects.get().notified == ["email"]
    assert "Could not post alert" in caplog.text and "hooks.example.com/\u2026path" in caplog.text
    assert "defaultsecretpath" not in caplog.text


def test_a_webhook_answering_an_error_is_not_counted_as_sent(django_capture_on_commit_callbacks):
    flow = make_flow()
    with respx.mock() as mock:
        mock.post(DEFAULT_HOOK).respond(500)
        _finish(flow, RunStatus.FAILED, django_capture_on_commit_callbacks)
    assert Alert.objects.get().notified == ["email"]


def test_the_webhook_url_is_stored_encrypted_and_never_shown(client):
    flow = make_flow(name="Orders")
    users = role_users()
    alert_settings = flow_alert_settings_update(flow=flow, webhook_url=FLOW_HOOK)
    with db.cursor() as cursor:
        cursor.execute("SELECT webhook FROM integrations_flowalertsettings WHERE id = %s", [alert_settings.pk])
        stored = cursor.fetchone()[0]
    assert "flowsecretpath" not in stored
    assert FlowAlertSettings.objects.get().get_webhook_url() == FLOW_HOOK
    assert alert_settings.webhook_hint == "hooks.example.com/\u2026XyZ9"
    for role in ("integrator", "auditor"):
        client.force_login(users[role])
        for url in (reverse("admin:integrations_flowalertsettings_changelist"),
                    reverse("admin:integrations_flowalertsettings_change", args=[alert_settings.pk]),
                    reverse("admin:integrations_flowalertsettings_history", args=[alert_settings.pk])):
            body = client.get(url).content.decode()
            assert "flowsecretpath" not in body and stored not in body, (role, url)
            assert "hooks.example.com/\u2026XyZ9" in body or "history" in url


def test_integration_admins_set_a_flows_alerts_in_the_admin(client):
    flow = make_flow(name="Orders")
    client.force_login(role_users()["integrator"])
    add = reverse("admin:integrations_flowalertsettings_add")
    flow_page = reverse("admin:integrations_flow_change", args=[flow.pk])
    assert f'{add}?flow={flow.pk}">Set this flow' in client.get(flow_page).content.decode()
    assert client.get(add + f"?flow={flow.pk}").status_code == 200
    form = {"flow": flow.pk, "emails": "ar@example.com", "webhook_url": FLOW_HOOK, "on_run_failed": "on",
            "on_needs_reauth": "on", "exception_threshold": "10"}
    response = client.post(add, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    saved = FlowAlertSettings.objects.get(flow=flow)
    assert (saved.email_list, saved.get_webhook_url(), saved.exception_threshold) == (["ar@example.com"], FLOW_HOOK, 10)
    assert (saved.on_retries_exhausted, saved.on_exception_threshold) == (False, False)
    change = reverse("admin:integrations_flowalertsettings_change", args=[saved.pk])
    assert f'{change}">This flow' in client.get(flow_page).content.decode()
    # Saving again without typing the URL keeps it; a bad address is refused.
    client.post(change, {**form, "webhook_url": "", "emails": "ap@example.com"})
    saved.refresh_from_db()
    assert (saved.email_list, saved.get_webhook_url()) == (["ap@example.com"], FLOW_HOOK)
    refused = client.post(change, {**form, "emails": "not an address"})
    assert refused.status_code == 200 and "is not an email address" in refused.content.decode()
    client.post(change, {**form, "webhook_url": "", "clear_webhook": "on"})
    saved.refresh_from_db()
    assert saved.get_webhook_url() == "" and saved.webhook_hint == ""


def test_finance_cannot_change_alert_settings(client):
    flow = make_flow()
    alert_settings = flow_alert_settings_update(flow=flow, emails="a@example.com")
    client.force_login(role_users()["finance"])
    assert client.get(reverse("admin:integrations_flowalertsettings_change", args=[alert_settings.pk])).status_code == 403
    assert client.post(reverse("admin:integrations_flowalertsettings_add"), {"flow": flow.pk}).status_code == 403


def test_key_rotation_re_encrypts_the_webhooks(settings):
    from io import StringIO

    from django.core.management import call_command

    from integrations import crypto

    old = settings.CREDENTIALS_KEYS[0]
    alert_settings = flow_alert_settings_update(flow=make_flow(), webhook_url=FLOW_HOOK)
    new = crypto.generate_key()
    settings.CREDENTIALS_KEYS = [new, old]
    out = StringIO()
    call_command("rotate_credentials_key", stdout=out)
    assert "Re-encrypted the alert webhooks of 1 flow(s)." in out.getvalue()
    settings.CREDENTIALS_KEYS = [new]
    assert FlowAlertSettings.objects.get(pk=alert_settings.pk).get_webhook_url() == FLOW_HOOK
