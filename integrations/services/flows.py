"""People's actions on flows: run now, pause, resume; audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from integrations.models import AuditSource, Flow, RunTrigger, SyncRun
from integrations.services.audit import audit_event_record, operation
from integrations.services.runs import flow_run_request


def flow_run_now(*, flow: Flow, actor: Any, full: bool = False) -> SyncRun | None:
    return flow_run_request(flow=flow, trigger=RunTrigger.MANUAL, actor=actor, full=full)


def flow_pause(*, flow: Flow, actor: Any, reason: str = "Paused by a person") -> None:
    with transaction.atomic(), operation():
        flow.enabled, flow.paused_reason = False, reason
        flow._history_user = actor
        flow.save()
        audit_event_record(action="flow.paused", source=AuditSource.UI, actor=actor, object_type="flow",
                           object_id=flow.pk, object_ref=flow.name, flow=flow, data={"reason": reason})


def flow_resume(*, flow: Flow, actor: Any) -> None:
    with transaction.atomic(), operation():
        flow.enabled, flow.paused_reason = True, ""
        flow._history_user = actor
        flow.save()
        audit_event_record(action="flow.resumed", source=AuditSource.UI, actor=actor, object_type="flow",
                           object_id=flow.pk, object_ref=flow.name, flow=flow)
