"""The run monitor and dashboard: live runs (polled as JSON), history, charts, API budgets,
and what needs a person. Everyone who may view runs sees it; only people who may change flows
(integration admins) get the Run now / Pause / Resume buttons, and only they may post them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from integrations import charts
from integrations.models import AuditEvent, Flow, RunStatus, SyncRun
from integrations.services import dashboard
from integrations.services.audit import operation
from integrations.services.flows import flow_pause, flow_resume, flow_run_now
from integrations.services.timeline import timeline_url

VIEW_PERMISSION = "integrations.view_syncrun"
ACT_PERMISSION = "integrations.change_flow"
RUNS_PER_PAGE = 25
RECORDS_PER_PAGE = 50
POLL_SECONDS = 5


def _require_view(request: HttpRequest) -> None:
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _charts(period: str, flow_id: int | None) -> dict[str, Any]:
    buckets = dashboard.throughput(period=period, flow_id=flow_id)
    width = dashboard.PERIODS[period][1]
    fmt = "%H:%M" if width.total_seconds() <= 3600 else "%a %H:%M"
    span = "24 hours" if period == "24h" else "7 days"
    records = [charts.Point(label=b.start.strftime(fmt), value=b.read or None,
                            title=f"{b.start:%d %b %H:%M} UTC: {b.read} read, {b.written} written, {b.failed} failed in {b.runs} run(s)")
               for b in buckets]
    failures = [charts.Point(label=b.start.strftime(fmt), value=b.failure_percent,
                             title=f"{b.start:%d %b %H:%M} UTC: {b.failure_percent}% of {b.read} records failed")
                for b in buckets]
    return {
        "throughput_chart": charts.bar_chart(
            chart_id="chart-throughput", title=f"Records read per interval, last {span}",
            description=f"{sum(b.read for b in buckets)} records read in {sum(b.runs for b in buckets)} runs.",
            points=records),
        "failure_chart": charts.line_chart(
            chart_id="chart-failures", title=f"Failed records, % of records read, last {span}",
            description=f"{sum(b.failed for b in buckets)} records failed.", points=failures, unit="%",
            y_max=max(10.0, charts.nice_ceiling(max((b.failure_percent or 0 for b in buckets), default=0)))),
        "totals": {"read": sum(b.read for b in buckets), "written": sum(b.written for b in buckets),
                   "failed": sum(b.failed for b in buckets), "runs": sum(b.runs for b in buckets),
                   "failed_runs": sum(b.failed_runs for b in buckets)},
    }


def monitor_view(request: HttpRequest) -> HttpResponse:
    _require_view(request)
    period = request.GET.get("period", dashboard.DEFAULT_PERIOD)
    if period not in dashboard.PERIODS:
        period = dashboard.DEFAULT_PERIOD
    flow_id = _int(request.GET.get("flow"))
    status = request.GET.get("status", "")
    if status not in RunStatus.values:
        status = ""
    offset = _int(request.GET.get("offset")) or 0
    runs = list(dashboard.runs_recent(flow_id=flow_id, status=status)[offset:offset + RUNS_PER_PAGE + 1])
    query = request.GET.copy()
    query.pop("offset", None)
    context = {
        **admin.site.each_context(request),
        "title": "Run monitor",
        "can_act": request.user.has_perm(ACT_PERMISSION),
        "summary": dashboard.dashboard_summary(),
        "live": dashboard.runs_live(),
        "stale": dashboard.runs_stale(),
        "reauth": dashboard.connections_needing_reauth(),
        "alerts": dashboard.alerts_open(),
        "flows": dashboard.flows_overview(),
        "budgets": dashboard.connection_budgets(),
        "period": period, "periods": list(dashboard.PERIODS),
        "flow_id": flow_id, "status": status, "statuses": RunStatus.choices,
        "runs": runs[:RUNS_PER_PAGE],
        "older_offset": offset + RUNS_PER_PAGE if len(runs) > RUNS_PER_PAGE else None,
        "newer_offset": max(0, offset - RUNS_PER_PAGE) if offset else None,
        "filter_query": query.urlencode(),
        "poll_seconds": POLL_SECONDS,
        **_charts(period, flow_id),
    }
    return TemplateResponse(request, "integrations/monitor/dashboard.html", context)


def monitor_live_view(request: HttpRequest) -> JsonResponse:
    """What the monitor page polls: the active runs and the headline numbers."""
    _require_view(request)
    summary = dashboard.dashboard_summary()
    return JsonResponse({
        "now": timezone.now().isoformat(),
        "runs": [live.as_json() for live in dashboard.runs_live()],
        "summary": {"running": summary.running, "queued": summary.queued, "stale": summary.stale,
                    "failed_24h": summary.failed_24h, "open_exceptions": summary.open_exceptions,
                    "needs_reauth": summary.needs_reauth, "open_alerts": summary.open_alerts},
    })


def run_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One run: its counts and progress, and the records it touched (each with its timeline)."""
    _require_view(request)
    run = get_object_or_404(SyncRun.objects.select_related("flow__source_connection", "flow__target_connection",
                                                           "triggered_by"), pk=pk)
    offset = _int(request.GET.get("offset")) or 0
    # The (run, created_at) index, a page at a time.
    events = list(AuditEvent.objects.filter(run=run).exclude(object_type="flow")
                  .order_by("created_at", "id")[offset:offset + RECORDS_PER_PAGE + 1])
    rows = [{"event": event, "timeline_url": timeline_url(system=event.object_system, object_type=event.object_type,
                                                           object_id=event.object_id)
             if event.object_system and event.object_id else ""}
            for event in events[:RECORDS_PER_PAGE]]
    live = next((item for item in dashboard.runs_live() if item.run.pk == run.pk), None)
    took = run.finished_at - (run.started_at or run.created_at) if run.finished_at else None
    context = {
        **admin.site.each_context(request),
        "title": f"Run #{run.pk} of {run.flow.name}",
        "run": run, "live": live, "rows": rows, "took": took,
        "older_offset": offset + RECORDS_PER_PAGE if len(events) > RECORDS_PER_PAGE else None,
        "newer_offset": max(0, offset - RECORDS_PER_PAGE) if offset else None,
        "can_act": request.user.has_perm(ACT_PERMISSION),
        "poll_seconds": POLL_SECONDS,
    }
    return TemplateResponse(request, "integrations/monitor/run.html", context)


FLOW_ACTIONS = {"run-now", "pause", "resume"}


@require_POST
def flow_action_view(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Run now, Pause or Resume one flow (POST with the CSRF token; integration admins)."""
    if not request.user.has_perm(ACT_PERMISSION) or action not in FLOW_ACTIONS:
        raise PermissionDenied
    flow = get_object_or_404(Flow, pk=pk)
    with operation():
        if action == "run-now":
            run = flow_run_now(flow=flow, actor=request.user)
            if run is None:
                messages.warning(request, f"{flow.name} already has a run queued or running; another follows it.")
            else:
                messages.success(request, f"Queued run #{run.pk} of {flow.name}.")
        elif action == "pause":
            if flow.enabled:
                flow_pause(flow=flow, actor=request.user)
            messages.success(request, f"Paused {flow.name}; no new runs start until it is resumed.")
        else:
            if not flow.enabled:
                flow_resume(flow=flow, actor=request.user)
            messages.success(request, f"Resumed {flow.name}.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        target = reverse("integrations:monitor")
    return HttpResponseRedirect(target)
