"""Admin of what happened: runs, record links, audit events, API calls, webhook deliveries.
All read-only: people look, the engine writes."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django_q import admin as django_q_admin  # imported first: it registers the task admins replaced below
from django_q.models import Failure, Success

from integrations.admin.base import HistoryAdmin
from integrations.log_actions import log_actions
from integrations.models import Alert, ApiCall, AuditEvent, RecordLink, SyncRun, System, WebhookDelivery
from integrations.paginator import EstimatedCountPaginator, estimated_changelist_class
from integrations.services.timeline import timeline_url


def _timeline_link(system: str, object_type: str, object_id: str) -> str:
    if not (system and object_type and object_id):
        return "\u2014"
    return format_html('<a href="{}">Timeline</a>', timeline_url(system=system, object_type=object_type, object_id=object_id))

EstimatedChangeList = estimated_changelist_class()


@admin.register(SyncRun)
class SyncRunAdmin(HistoryAdmin):
    list_display = ["id", "flow", "status", "trigger", "read_count", "created_count", "updated_count",
                    "unchanged_count", "failed_count", "started_at", "finished_at", "monitor"]
    list_filter = ["status", "trigger", "flow"]
    search_fields = ["flow__name", "flow__slug", "=correlation_id", "error_message"]
    date_hierarchy = "created_at"
    list_select_related = ["flow"]

    @admin.display(description="Records")
    def monitor(self, obj: SyncRun) -> str:
        return format_html('<a href="{}">What it touched</a>', reverse("integrations:monitor_run", args=[obj.pk]))


@admin.register(RecordLink)
class RecordLinkAdmin(HistoryAdmin):
    list_display = ["__str__", "source_connection", "target_connection", "state", "last_synced_at", "timeline"]
    list_filter = ["state", "source_type", "target_type", "source_connection", "target_connection"]
    search_fields = ["=source_id", "=target_id", "source_ref", "target_ref"]
    date_hierarchy = "created_at"
    list_select_related = ["source_connection", "target_connection"]

    @admin.display(description="Timeline")
    def timeline(self, obj: RecordLink) -> str:
        return _timeline_link(obj.source_connection.system, obj.source_type, obj.source_id)


class AuditActionFilter(admin.SimpleListFilter):
    """The registered actions by their labels (a DISTINCT over millions of events would read
    them all)."""

    title = "action"
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return log_actions.choices()

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(action=self.value()) if self.value() else queryset


class AuditSystemFilter(admin.SimpleListFilter):
    title = "system"
    parameter_name = "object_system"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(System.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(object_system=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(HistoryAdmin):
    """The raw events; the auditors' trail (``integrations:audit_trail``) filters them by
    record, run, user and time and exports them as CSV."""

    list_display = ["created_at", "description", "action", "actor_label", "source", "object_system", "object_type", "object_ref",
                    "timeline"]
    list_filter = ["source", AuditActionFilter, AuditSystemFilter]
    search_fields = ["=object_id", "=object_ref", "=actor_label", "=correlation_id"]
    date_hierarchy = "created_at"
    # Counting millions of rows on each page is the slow part of a changelist: no full count,
    # no facet counts, and a paginator that counts exactly only the first thousand.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type:
        return EstimatedChangeList

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "audit_trail_url": reverse("integrations:audit_trail")}
        return super().changelist_view(request, extra_context)

    @admin.display(description="What happened")
    def description(self, obj: AuditEvent) -> str:
        return obj.description

    @admin.display(description="Timeline")
    def timeline(self, obj: AuditEvent) -> str:
        return _timeline_link(obj.object_system, obj.object_type, obj.object_id)


@admin.register(ApiCall)
class ApiCallAdmin(HistoryAdmin):
    list_display = ["started_at", "connection", "method", "path", "status_code", "duration_ms", "attempt", "error_class"]
    list_filter = ["connection", "method", "status_code", "error_class"]
    search_fields = ["path", "=idempotency_key", "=correlation_id", "request_id"]
    date_hierarchy = "started_at"
    list_select_related = ["connection"]
    show_full_result_count = False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(HistoryAdmin):
    list_display = ["received_at", "system", "connection", "signature_valid", "status", "attempts", "processed_at"]
    list_filter = ["system", "status", "signature_valid"]
    search_fields = ["=dedup_key", "error"]
    date_hierarchy = "received_at"
    exclude = ["raw_body"]
    readonly_fields = ["body"]

    @admin.display(description="Body")
    def body(self, obj: WebhookDelivery) -> str:
        return bytes(obj.raw_body).decode("utf-8", errors="replace")


@admin.register(Alert)
class AlertAdmin(HistoryAdmin):
    list_display = ["last_raised_at", "subject", "kind", "occurrences", "notified", "cleared_at"]
    list_filter = ["kind", ("cleared_at", admin.EmptyFieldListFilter)]
    search_fields = ["subject", "message", "dedup_key"]
    date_hierarchy = "first_raised_at"
    list_select_related = ["flow", "connection"]


# django-q2's task admins offer "Resubmit selected tasks to queue" to whoever may view them,
# auditors included. Resubmitting runs a task again, a change: it needs the change permission.
class ResubmitNeedsChangeMixin:
    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)  # type: ignore[misc]
        if not self.has_change_permission(request):  # type: ignore[attr-defined]
            actions.pop("resubmit_task", None)
        return actions


class SuccessAdmin(ResubmitNeedsChangeMixin, django_q_admin.TaskAdmin):
    pass


class FailureAdmin(ResubmitNeedsChangeMixin, django_q_admin.FailAdmin):
    pass


for _model, _admin_class in ((Success, SuccessAdmin), (Failure, FailureAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin_class)
