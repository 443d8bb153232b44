"""django-q2 schedules kept in step with the flows: one schedule per polling flow, named after
it, created, changed or removed whenever the flow is saved; plus the engine's own housekeeping
(the reaper and the retry sweep), made once after migrate."""

from __future__ import annotations

from typing import Any

from django_q.models import Schedule

from integrations.models import Flow, FlowTrigger

SYSTEM_SCHEDULES = {
    "ledgerbridge:reap-runs": ("integrations.tasks.reap_runs_task", 1),
    "ledgerbridge:retry-exceptions": ("integrations.tasks.retry_exceptions_task", 1),
    "ledgerbridge:check-alerts": ("integrations.tasks.check_alerts_task", 5),
    "ledgerbridge:reconcile-pull": ("reconciliation.tasks.reconcile_pull_task", 15),
    "ledgerbridge:retry-postings": ("reconciliation.tasks.postings_retry_task", 1),
}


def schedule_name(flow: Flow) -> str:
    return f"flow:{flow.pk}"


def flow_schedule_sync(flow: Flow) -> Schedule | None:
    """The flow's polling schedule as its fields say (webhook flows poll too: the fallback)."""
    polls = flow.enabled and flow.trigger in (FlowTrigger.SCHEDULE, FlowTrigger.WEBHOOK) and (
        flow.cron or flow.interval_minutes)
    if not polls:
        Schedule.objects.filter(name=schedule_name(flow)).delete()
        return None
    values: dict[str, Any] = {"func": "integrations.tasks.flow_scheduled_run_task", "args": str(flow.pk), "repeats": -1}
    if flow.cron:
        values.update(schedule_type=Schedule.CRON, cron=flow.cron, minutes=None)
    else:
        values.update(schedule_type=Schedule.MINUTES, minutes=flow.interval_minutes, cron=None)
    schedule, _ = Schedule.objects.update_or_create(name=schedule_name(flow), defaults=values)
    return schedule


def flow_schedule_remove(flow: Flow) -> None:
    Schedule.objects.filter(name=schedule_name(flow)).delete()


def system_schedules_sync() -> None:
    for name, (func, minutes) in SYSTEM_SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1})
