"""Runs of flows: requesting, starting, heart-beating, finishing, reaping.

At most one queued or running run per flow (a partial unique index); a request while one is
active is remembered on the flow (``rerun_requested``) and served when the active run ends,
so a burst of webhooks costs one extra run, not one per event.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.models import ACTIVE_RUN_STATUSES, AuditSource, Flow, RunStatus, RunTrigger, SyncRun
from integrations.services.audit import audit_event_record, operation

# A running run writes its heartbeat at least this often; one silent for STALE_AFTER is dead
# (the RUN_STALE_AFTER_SECONDS setting; a chaos test shortens it, production keeps 5 minutes).
HEARTBEAT_SECONDS = 15
STALE_AFTER = timedelta(minutes=5)


def stale_after() -> timedelta:
    seconds = getattr(settings, "RUN_STALE_AFTER_SECONDS", None)
    return timedelta(seconds=seconds) if seconds else STALE_AFTER


def flow_run_request(
    *, flow: Flow, trigger: str, actor: Any = None, full: bool = False, enqueue: bool = True
) -> SyncRun | None:
    """Queue a run of ``flow``; ``None`` when one is already queued or running (it is then
    asked to run again once it ends). ``enqueue`` hands the run to a worker after commit."""
    try:
        with transaction.atomic(), operation():
            run = SyncRun.objects.create(
                flow=flow, trigger=trigger, full=full, status=RunStatus.QUEUED,
                triggered_by=actor if getattr(actor, "pk", None) else None, cursor_before=flow.cursor,
            )
            if trigger == RunTrigger.MANUAL:
                audit_event_record(
                    action="flow.run_requested", source=AuditSource.UI, actor=actor, object_type="flow",
                    object_id=flow.pk, object_ref=flow.name, flow=flow, run=run,
                )
    except IntegrityError:
        Flow.objects.filter(pk=flow.pk).update(rerun_requested=True)
        return None
    if enqueue:
        transaction.on_commit(lambda: run_enqueue(run))
    return run


def run_enqueue(run: SyncRun) -> None:
    from django_q.tasks import async_task

    task_id = async_task("integrations.tasks.run_flow_task", run.pk, task_name=f"run-{run.pk}",
                         group=f"flow-{run.flow_id}")
    SyncRun.objects.filter(pk=run.pk).update(task_id=str(task_id)[:64])


def run_claim(*, run_id: int) -> SyncRun | None:
    """Mark a queued run running; ``None`` if it is not queued any more (a redelivered task,
    or a run already taken by another worker)."""
    now = timezone.now()
    claimed = SyncRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        return None
    run = SyncRun.objects.select_related("flow").get(pk=run_id)
    with operation(run.correlation_id):
        audit_event_record(
            action="run.started", source=AuditSource.WORKER, object_type="flow", object_id=run.flow_id,
            object_ref=run.flow.name, flow=run.flow, run=run,
            data={"flow": run.flow.name, "trigger": run.get_trigger_display()},
        )
    return run


def run_heartbeat(*, run: SyncRun, **counts: int) -> bool:
    """Record progress; ``False`` when the run was cancelled or reaped meanwhile (stop)."""
    updated = SyncRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        heartbeat_at=timezone.now(), **counts
    )
    return bool(updated)


def run_finish(*, run: SyncRun, status: str, error_message: str = "") -> SyncRun:
    """Close a run with its final counts; serve a rerun asked for while it was active."""
    from integrations.services.alerts import alerts_run_finished

    with transaction.atomic(), operation(run.correlation_id):
        SyncRun.objects.filter(pk=run.pk).update(
            status=status, finished_at=timezone.now(), error_message=error_message[:5000],
            read_count=run.read_count, created_count=run.created_count, updated_count=run.updated_count,
            unchanged_count=run.unchanged_count, skipped_count=run.skipped_count, failed_count=run.failed_count,
            cursor_after=run.cursor_after,
        )
        run.refresh_from_db()
        flow = run.flow
        audit_event_record(
            action="run.finished", source=AuditSource.WORKER, object_type="flow", object_id=flow.pk,
            object_ref=flow.name, flow=flow, run=run,
            data={"flow": flow.name, "status": run.get_status_display(), "read": run.read_count,
                  "created": run.created_count, "updated": run.updated_count, "failed": run.failed_count},
        )
        # A failed run alerts once per outage; a later run that gets through clears it.
        alerts_run_finished(run=run)
        rerun = Flow.objects.filter(pk=flow.pk, rerun_requested=True).update(rerun_requested=False)
    if rerun and flow.enabled:
        flow_run_request(flow=flow, trigger=RunTrigger.WEBHOOK)
    return run


def runs_reap(*, now: Any = None) -> list[SyncRun]:
    """Runs whose heartbeat stopped (a killed worker) are marked crashed and resumed from
    their flow's cursor, which only ever advanced past committed batches."""
    now = now or timezone.now()
    silence = stale_after()
    stale = list(SyncRun.objects.select_related("flow").filter(
        status=RunStatus.RUNNING, heartbeat_at__lt=now - silence))
    stale += list(SyncRun.objects.select_related("flow").filter(
        status=RunStatus.QUEUED, created_at__lt=now - silence * 6))  # a task lost by the broker
    reaped = []
    for run in stale:
        with transaction.atomic(), operation(run.correlation_id):
            if not SyncRun.objects.filter(pk=run.pk, status__in=ACTIVE_RUN_STATUSES).update(
                status=RunStatus.CRASHED, finished_at=now,
                error_message="The worker stopped sending heartbeats; resumed from the last committed batch.",
            ):
                continue
            audit_event_record(
                action="run.crashed", source=AuditSource.WORKER, object_type="flow", object_id=run.flow_id,
                object_ref=run.flow.name, flow=run.flow, run=run, data={"flow": run.flow.name},
            )
        reaped.append(run)
        if run.flow.enabled:
            flow_run_request(flow=run.flow, trigger=RunTrigger.RESUME, full=run.full)
    return reaped


def run_cancel(*, run: SyncRun) -> bool:
    return bool(SyncRun.objects.filter(pk=run.pk, status__in=ACTIVE_RUN_STATUSES).update(
        status=RunStatus.CANCELLED, finished_at=timezone.now()))


def run_counts_add(run: SyncRun, **deltas: int) -> None:
    """Add to the in-memory counts (saved with the next heartbeat and at the end)."""
    for name, delta in deltas.items():
        setattr(run, f"{name}_count", getattr(run, f"{name}_count") + delta)


__all__ = [
    "HEARTBEAT_SECONDS", "STALE_AFTER", "flow_run_request", "run_cancel", "run_claim", "run_counts_add",
    "run_enqueue", "run_finish", "run_heartbeat", "runs_reap", "stale_after",
]
