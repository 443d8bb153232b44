"""Automatic retries: exceptions whose next attempt is due are retried by a retry run of
their flow (so they never race the flow's own run), which re-reads just those records."""

from __future__ import annotations

from django.db.models import Count
from django.utils import timezone

from integrations.models import ExceptionStatus, Flow, RunTrigger, SyncException
from integrations.services.runs import flow_run_request


def exceptions_due(flow: Flow) -> list[str]:
    return list(SyncException.objects.filter(
        flow=flow, status=ExceptionStatus.RETRYING, next_attempt_at__lte=timezone.now(),
    ).values_list("record_id", flat=True)[:1000])


def exceptions_retry_due() -> int:
    """Queue a retry run for every enabled flow with retries due; returns how many."""
    due = (SyncException.objects.filter(status=ExceptionStatus.RETRYING, next_attempt_at__lte=timezone.now(),
                                        flow__enabled=True)
           .values("flow").annotate(n=Count("id")))
    queued = 0
    for row in due:
        flow = Flow.objects.get(pk=row["flow"])
        if flow_run_request(flow=flow, trigger=RunTrigger.RETRY):
            queued += 1
    return queued
