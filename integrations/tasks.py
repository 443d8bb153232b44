"""django-q2 tasks: thin, each calls one service. django-q2 only executes; attempts, backoff
and dedup live in our tables (DESIGN §6), so a task run twice does no harm."""

from __future__ import annotations

from integrations.models import Flow, RunTrigger


def run_flow_task(run_id: int) -> str:
    from integrations.engine.pipeline import run_execute
    from integrations.services.runs import run_claim

    run = run_claim(run_id=run_id)
    if run is None:
        return "not queued any more (already taken)"
    run = run_execute(run)
    return f"{run.status}: read {run.read_count}, created {run.created_count}, failed {run.failed_count}"


def flow_scheduled_run_task(flow_id: int) -> str:
    from integrations.services.runs import flow_run_request

    flow = Flow.objects.filter(pk=flow_id, enabled=True).first()
    if flow is None:
        return "flow disabled or gone"
    run = flow_run_request(flow=flow, trigger=RunTrigger.SCHEDULE)
    return f"run {run.pk} queued" if run else "a run is already active"


def reap_runs_task() -> int:
    from integrations.services.runs import runs_reap

    return len(runs_reap())


def retry_exceptions_task() -> int:
    from integrations.services.retries import exceptions_retry_due

    return exceptions_retry_due()


def check_alerts_task() -> int:
    from integrations.services.alerts import alerts_check

    return alerts_check()


def process_webhook_task(delivery_id: int) -> int:
    from integrations.services.webhooks import webhook_process

    return len(webhook_process(delivery_id=delivery_id))
