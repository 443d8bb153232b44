"""What the run monitor and the dashboard show: live runs, history, throughput and error rate
over time, each connection's API budget, and what needs a person (re-authorisation, stale runs,
open alerts). Reads only; every figure is aggregated in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

from django.db.models import (
    Count, DurationField, ExpressionWrapper, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum,
)
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone
from django.utils.module_loading import import_string

from integrations.models import (
    ACTIVE_RUN_STATUSES, OPEN_EXCEPTION_STATUSES, Alert, ApiCall, Connection, ConnectionStatus, Flow, RunStatus,
    SyncException, SyncRun,
)
from integrations.services.connectors import rate_limits_path
from integrations.services.runs import stale_after

# Chart periods: how far back, and how wide one bar is (hourly rows folded into it).
PERIODS: dict[str, tuple[timedelta, timedelta]] = {
    "24h": (timedelta(hours=24), timedelta(hours=1)),
    "7d": (timedelta(days=7), timedelta(hours=6)),
}
DEFAULT_PERIOD = "24h"


# --- Live runs ----------------------------------------------------------------------------------


@dataclass
class LiveRun:
    run: SyncRun
    heartbeat_age: int | None  # seconds
    stale: bool

    @property
    def percent(self) -> int | None:
        total = self.run.progress_total
        if not total:
            return None
        return min(100, round(100 * self.run.read_count / total))

    def as_json(self) -> dict[str, Any]:
        run = self.run
        return {
            "id": run.pk, "flow": run.flow.name, "flow_id": run.flow_id, "status": run.status,
            "status_label": run.get_status_display(), "trigger": run.get_trigger_display(),
            "read": run.read_count, "created": run.created_count, "updated": run.updated_count,
            "unchanged": run.unchanged_count, "failed": run.failed_count, "total": run.progress_total,
            "percent": self.percent, "heartbeat_age": self.heartbeat_age, "stale": self.stale,
            "started_at": run.started_at.isoformat() if run.started_at else None,
        }


def runs_live(*, now: datetime | None = None) -> list[LiveRun]:
    """Queued and running runs with their progress and heartbeat age; a running run silent for
    longer than ``stale_after()`` is stale (the reaper will mark it crashed)."""
    now = now or timezone.now()
    silence = stale_after()
    result = []
    for run in SyncRun.objects.filter(status__in=ACTIVE_RUN_STATUSES).select_related("flow").order_by("created_at"):
        beat = run.heartbeat_at
        age = int((now - beat).total_seconds()) if beat else None
        result.append(LiveRun(run=run, heartbeat_age=age,
                              stale=run.status == RunStatus.RUNNING and beat is not None and now - beat > silence))
    return result


def runs_stale(*, now: datetime | None = None) -> list[SyncRun]:
    now = now or timezone.now()
    return list(SyncRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=now - stale_after())
                .select_related("flow").order_by("heartbeat_at"))


# --- History ------------------------------------------------------------------------------------


def runs_recent(*, flow_id: int | None = None, status: str = "") -> QuerySet[SyncRun]:
    """Runs newest first, optionally of one flow and one status (the caller slices a page)."""
    queryset = SyncRun.objects.select_related("flow").order_by("-created_at", "-id").annotate(
        took=ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField()))
    if flow_id:
        queryset = queryset.filter(flow_id=flow_id)
    if status:
        queryset = queryset.filter(status=status)
    return queryset


@dataclass
class FlowRow:
    flow: Flow
    last_run: SyncRun | None
    open_exceptions: int


def flows_overview() -> list[FlowRow]:
    """Every flow with its latest run and its open exceptions (two indexed subqueries each)."""
    latest = SyncRun.objects.filter(flow=OuterRef("pk")).order_by("-created_at").values("pk")[:1]
    open_count = (SyncException.objects.filter(flow=OuterRef("pk"), status__in=OPEN_EXCEPTION_STATUSES)
                  .order_by().values("flow").annotate(n=Count("id")).values("n")[:1])
    flows = list(Flow.objects.select_related("source_connection", "target_connection").annotate(
        last_run_id=Subquery(latest), open_exceptions=Coalesce(Subquery(open_count, output_field=IntegerField()), 0),
    ))
    runs = SyncRun.objects.in_bulk([flow.last_run_id for flow in flows if flow.last_run_id])
    return [FlowRow(flow=flow, last_run=runs.get(flow.last_run_id), open_exceptions=flow.open_exceptions)
            for flow in flows]


# --- Throughput and error rate ------------------------------------------------------------------


@dataclass
class Bucket:
    start: datetime
    runs: int = 0
    failed_runs: int = 0
    read: int = 0
    written: int = 0  # created + updated
    failed: int = 0

    @property
    def failure_percent(self) -> float | None:
        """Failed records as a share of records read; ``None`` when nothing was read."""
        if not self.read:
            return None
        return round(100 * self.failed / self.read, 1)


def throughput(*, period: str = DEFAULT_PERIOD, now: datetime | None = None, flow_id: int | None = None) -> list[Bucket]:
    """Records per interval and failures over ``period``, oldest first, one bucket per bar
    (empty intervals included). Summed per hour in the database (TruncHour), folded here into
    the period's bar width."""
    span, width = PERIODS.get(period, PERIODS[DEFAULT_PERIOD])
    now = now or timezone.now()
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - span
    flows = [flow_id] if flow_id else list(Flow.objects.values_list("pk", flat=True))
    # flow IN (...) and created_at lets the (flow, -created_at) index answer.
    rows = (SyncRun.objects.filter(flow_id__in=flows, created_at__gte=start, created_at__lt=end)
            .annotate(hour=TruncHour("created_at")).values("hour")
            .annotate(runs=Count("id"), failed_runs=Count("id", filter=Q(status__in=[RunStatus.FAILED, RunStatus.CRASHED])),
                      read=Sum("read_count"), created=Sum("created_count"), updated=Sum("updated_count"),
                      failed=Sum("failed_count"))
            .order_by("hour"))
    count = int(span / width)
    buckets = [Bucket(start=start + width * index) for index in range(count)]
    for row in rows:
        hour = row["hour"]
        if timezone.is_naive(hour):
            hour = timezone.make_aware(hour, dt_timezone.utc)
        index = int((hour - start) / width)
        if not 0 <= index < count:
            continue
        bucket = buckets[index]
        bucket.runs += row["runs"]
        bucket.failed_runs += row["failed_runs"]
        bucket.read += row["read"] or 0
        bucket.written += (row["created"] or 0) + (row["updated"] or 0)
        bucket.failed += row["failed"] or 0
    return buckets


# --- API budgets --------------------------------------------------------------------------------


@dataclass
class BudgetWindow:
    name: str  # minute, day
    limit: int
    used: int  # our calls in the last window, from the call log
    reported: int | None  # what the API last said it had left, while that reading holds

    @property
    def left(self) -> int:
        by_count = max(0, self.limit - self.used)
        return min(by_count, self.reported) if self.reported is not None else by_count

    @property
    def percent_left(self) -> int:
        return round(100 * self.left / self.limit) if self.limit else 0


@dataclass
class ConnectionBudget:
    connection: Connection
    windows: list[BudgetWindow]

    def window(self, name: str) -> BudgetWindow | None:
        return next((window for window in self.windows if window.name == name), None)

    @property
    def minute(self) -> BudgetWindow | None:
        return self.window("minute")

    @property
    def day(self) -> BudgetWindow | None:
        return self.window("day")


def connection_budgets(*, now: datetime | None = None) -> list[ConnectionBudget]:
    """Calls left this minute and today for each connection: the connector's published limits
    less our own calls in the window (the API call log), or less, what the API itself last
    reported (its remaining-calls headers), while that reading is fresh."""
    now = now or timezone.now()
    result = []
    for connection in Connection.objects.exclude(status=ConnectionStatus.DISABLED).order_by("name"):
        path = rate_limits_path(connection.system)
        if path is None:
            result.append(ConnectionBudget(connection=connection, windows=[]))
            continue
        limits = import_string(path)
        windows = []
        for window in limits.windows:
            seconds = timedelta(seconds=window.seconds)
            used = ApiCall.objects.filter(connection=connection, started_at__gte=now - seconds).count()
            reported_value = {"minute": connection.rate_minute_remaining, "day": connection.rate_day_remaining}.get(window.name)
            fresh = connection.rate_updated_at is not None and now - connection.rate_updated_at < min(
                seconds, timedelta(seconds=limits.observation_expiry(window)))
            windows.append(BudgetWindow(name=window.name, limit=window.calls, used=used,
                                        reported=reported_value if fresh else None))
        result.append(ConnectionBudget(connection=connection, windows=windows))
    return result


# --- Needing a person ---------------------------------------------------------------------------


def connections_needing_reauth() -> list[Connection]:
    return list(Connection.objects.filter(status=ConnectionStatus.NEEDS_REAUTH).order_by("name"))


def alerts_open() -> list[Alert]:
    return list(Alert.objects.filter(cleared_at__isnull=True).select_related("flow", "connection")
                .order_by("-last_raised_at")[:20])


@dataclass
class Summary:
    running: int
    queued: int
    stale: int
    failed_24h: int
    open_exceptions: int
    needs_reauth: int
    open_alerts: int

    @property
    def attention(self) -> bool:
        return bool(self.stale or self.failed_24h or self.needs_reauth or self.open_alerts)


def dashboard_summary(*, now: datetime | None = None) -> Summary:
    """The few numbers of the admin's home page."""
    now = now or timezone.now()
    active = dict(SyncRun.objects.filter(status__in=ACTIVE_RUN_STATUSES).order_by()
                  .values_list("status").annotate(n=Count("id")))
    flows = list(Flow.objects.values_list("pk", flat=True))
    return Summary(
        running=active.get(RunStatus.RUNNING, 0),
        queued=active.get(RunStatus.QUEUED, 0),
        stale=SyncRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=now - stale_after()).count(),
        failed_24h=SyncRun.objects.filter(flow_id__in=flows, created_at__gte=now - timedelta(hours=24),
                                          status__in=[RunStatus.FAILED, RunStatus.CRASHED]).count(),
        open_exceptions=SyncException.objects.filter(status__in=OPEN_EXCEPTION_STATUSES).count(),
        needs_reauth=Connection.objects.filter(status=ConnectionStatus.NEEDS_REAUTH).count(),
        open_alerts=Alert.objects.filter(cleared_at__isnull=True).count(),
    )
