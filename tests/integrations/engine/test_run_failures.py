"""A run that meets an error nobody planned for (a bug, a database error) ends failed, with
the error and an alert, instead of staying "running" until the reaper resumes it into the
same error every five minutes."""

from __future__ import annotations

import pytest

from integrations.engine.pipeline import FlowRunner, run_execute
from integrations.models import Alert, SyncRun
from integrations.services.runs import flow_run_request, run_claim, runs_reap

pytest.importorskip("sandbox.xero.services", reason="the sandbox app is off (SANDBOX_ENABLED=false)")
pytestmark = pytest.mark.django_db(transaction=True)

from tests.integrations.engine.test_pipeline_xero_to_xero import _seed_contacts, contacts_flow, orgs  # noqa: E402,F401


def test_an_unexpected_error_fails_the_run_with_an_alert_and_nothing_to_reap(orgs, contacts_flow, monkeypatch):
    _seed_contacts(orgs[1], 3)

    def broken(self, records):
        raise RuntimeError("a bug in a batch")

    monkeypatch.setattr(FlowRunner, "process", broken)
    run = run_claim(run_id=flow_run_request(flow=contacts_flow, trigger="manual", enqueue=False).pk)
    with pytest.raises(RuntimeError):  # the task fails too, as django-q records it
        run_execute(run)
    run = SyncRun.objects.get(pk=run.pk)
    assert run.status == "failed" and "a bug in a batch" in run.error_message
    assert Alert.objects.filter(kind="run_failed", flow=contacts_flow).exists()
    from datetime import timedelta

    from django.utils import timezone

    assert runs_reap(now=timezone.now() + timedelta(hours=1)) == []
