"""The review queue in admin: "Open exceptions" and "Resolved exceptions" over one table.

Finance works the open queue here: filters (flow, connection, class, stage, code, age,
assignee, status), the codes panel (how many of each code, within the current filters), and
bulk actions (retry, resolve with a note, ignore, assign), each one audited under one
correlation id. One exception's page has the same actions as buttons and the edit-and-retry
editor (``integrations.views.queue``). The queue is paged without counting it
(``integrations.paginator``): it stays fast at a million rows.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection as db_connection
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from integrations.forms import AssignForm, IgnoreForm, ResolveForm, exception_assignees
from integrations.models import (
    CLOSED_EXCEPTION_STATUSES,
    OPEN_EXCEPTION_STATUSES,
    Connection,
    OpenException,
    ResolvedException,
    SyncException,
)
from integrations.paginator import EstimatedCountPaginator, bounded_counts, estimated_changelist_class
from integrations.services.timeline import timeline_url as record_timeline_url
from integrations.services.exceptions import (
    exception_assign,
    exception_ignore,
    exception_resolve,
    exception_retry,
)

CODES_SHOWN = 100
CODES_SAMPLE = 2000
# Filters the codes panel counts through an index ((flow, code) or (code)); see code_groups.
INDEXED_FILTERS = {"flow__id__exact"}
EstimatedChangeList = estimated_changelist_class()


# --- Filters -------------------------------------------------------------------------------------


class QueueStatusFilter(admin.SimpleListFilter):
    """Only the statuses the queue holds (open and retrying, or the three closed ones)."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        statuses = OPEN_EXCEPTION_STATUSES if model_admin.model is OpenException else CLOSED_EXCEPTION_STATUSES
        return [(status.value, status.label) for status in statuses]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(status=self.value()) if self.value() else queryset


class ConnectionFilter(admin.SimpleListFilter):
    """Exceptions of flows that read from or write to a connection."""

    title = "connection"
    parameter_name = "connection"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(pk), name) for pk, name in Connection.objects.order_by("name").values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        from integrations.models import Flow

        flows = Flow.objects.filter(Q(source_connection_id=self.value()) | Q(target_connection_id=self.value()))
        return queryset.filter(flow_id__in=list(flows.values_list("pk", flat=True)))


def exception_codes(statuses: tuple[str, ...], limit: int = CODES_SHOWN) -> list[str]:
    """The distinct codes among exceptions of ``statuses``, read as a loose index scan: one
    probe per code into the queue's partial (code, created_at, id) index, not a pass over
    every row (PostgreSQL has no skip scan). Each probe orders by the index's own columns so
    that index is the one used: the (code, status) index would first wade through every
    closed row of a code to find an open one."""
    table = SyncException._meta.db_table
    marks = ", ".join(["%s"] * len(statuses))
    probe = (f"SELECT code FROM {table} WHERE status IN ({marks}) AND code > {{after}} "
             f"ORDER BY code, created_at DESC, id DESC LIMIT 1")
    sql = f"""
        WITH RECURSIVE codes(code, n) AS (
            SELECT ({probe.format(after="''")}), 1
            UNION ALL
            SELECT ({probe.format(after="codes.code")}), n + 1
            FROM codes WHERE codes.code IS NOT NULL AND n < %s
        )
        SELECT code FROM codes WHERE code IS NOT NULL"""
    with db_connection.cursor() as cursor:
        cursor.execute(sql, [*statuses, *statuses, limit])
        return [row[0] for row in cursor.fetchall()]


def exception_codes_cached(request: HttpRequest, statuses: tuple[str, ...]) -> list[str]:
    """:func:`exception_codes` once per request (the filter and the codes panel both use it)."""
    cache = request.__dict__.setdefault("_exception_codes", {})
    if statuses not in cache:
        cache[statuses] = exception_codes(statuses)
    return cache[statuses]


class CodeFilter(admin.SimpleListFilter):
    """Filters by code; shown as the codes panel (with counts) rather than a second list."""

    title = "code"
    parameter_name = "code"
    template = "integrations/queue/filter_hidden.html"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(code, code) for code in exception_codes_cached(request, model_admin.statuses)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(code=self.value()) if self.value() else queryset


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"
    BUCKETS = {
        "1h": ("Under an hour", None, timedelta(hours=1)),
        "24h": ("1 to 24 hours", timedelta(hours=1), timedelta(hours=24)),
        "7d": ("1 to 7 days", timedelta(hours=24), timedelta(days=7)),
        "30d": ("7 to 30 days", timedelta(days=7), timedelta(days=30)),
        "old": ("Over 30 days", timedelta(days=30), None),
    }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _, _) in self.BUCKETS.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() not in self.BUCKETS:
            return queryset
        _, older_than, younger_than = self.BUCKETS[self.value()]
        now = timezone.now()
        if older_than is not None:
            queryset = queryset.filter(created_at__lte=now - older_than)
        if younger_than is not None:
            queryset = queryset.filter(created_at__gt=now - younger_than)
        return queryset


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        people = [(str(user.pk), user.get_username()) for user in exception_assignees()]
        return [("mine", "Mine"), ("none", "Unassigned"), *people]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "mine":
            return queryset.filter(assignee_id=request.user.pk)
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        if value and value.isdigit():
            return queryset.filter(assignee_id=int(value))
        return queryset


# --- The admins ----------------------------------------------------------------------------------


def pretty_json(value: Any) -> str:
    if value in (None, {}, []):
        return format_html('<span class="quiet">{}</span>', "(none)")
    return format_html('<pre class="payload">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False))


def timeline_url(exception: SyncException) -> str:
    """The record's timeline, in both systems."""
    return record_timeline_url(system=exception.flow.source_connection.system, object_type=exception.record_type,
                               object_id=exception.record_id)


class ExceptionAdminBase(admin.ModelAdmin):
    statuses: tuple[str, ...] = OPEN_EXCEPTION_STATUSES
    list_display = ["age", "record_ref_or_id", "flow", "code_and_class", "short_message", "status_badge", "assignee"]
    list_display_links = ["record_ref_or_id"]
    list_filter = [QueueStatusFilter, "flow", ConnectionFilter, "error_class", "stage", CodeFilter, AgeFilter,
                   AssigneeFilter]
    search_fields = ["=record_id", "=record_ref", "=code"]
    date_hierarchy = "created_at"
    list_select_related = ["flow", "assignee"]
    list_per_page = 50
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    # Facet counts would count the whole queue once per filter choice.
    show_facets = admin.ShowFacets.NEVER
    fieldsets = [
        ("Record", {"fields": ["flow", "record_type", "record_id", "record_ref", "run", "record_link"]}),
        ("What went wrong", {"fields": ["stage", "error_class", "code", "message", "remote_response_display"]}),
        ("Status", {"fields": ["status", "attempts", "next_attempt_at", "assignee", "resolution_note", "resolved_by",
                               "resolved_at", "created_at", "updated_at"]}),
        ("Payloads", {"fields": ["transformed_payload_display", "edited_payload_display", "source_payload_display"]}),
    ]
    readonly_display = ["remote_response_display", "transformed_payload_display", "edited_payload_display",
                        "source_payload_display"]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type:
        return EstimatedChangeList

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Only the assignee is edited in the form; every other change goes through the queue's
        # actions, which audit and retry through the pipeline.
        names = [name for _, options in self.fieldsets for name in options["fields"]]
        return [name for name in names if name != "assignee"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "assignee":
            kwargs["queryset"] = exception_assignees()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        # Exact matches only (record id, our reference, code): each is an index lookup, where a
        # substring search would read every row of a million.
        return super().get_search_results(request, queryset, search_term.strip())

    @admin.display(description="Age", ordering="created_at")
    def age(self, obj: SyncException) -> str:
        return format_html('<time datetime="{}" title="{}">{}</time>', obj.created_at.isoformat(),
                           timezone.localtime(obj.created_at).strftime("%Y-%m-%d %H:%M:%S %Z"),
                           timesince(obj.created_at).split(",")[0])

    @admin.display(description="Record", ordering="record_ref")
    def record_ref_or_id(self, obj: SyncException) -> str:
        return f"{obj.record_type} {obj.record_ref or obj.record_id}"

    @admin.display(description="Code", ordering="code")
    def code_and_class(self, obj: SyncException) -> str:
        return format_html('<code>{}</code><div class="quiet">{} at {}</div>', obj.code, obj.get_error_class_display(),
                           obj.get_stage_display().lower())

    @admin.display(description="Message")
    def short_message(self, obj: SyncException) -> str:
        text = obj.message if len(obj.message) <= 140 else obj.message[:139] + "\u2026"
        return format_html('<span title="{}">{}</span>', obj.message, text)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: SyncException) -> str:
        return format_html('<span class="badge badge-{}">{}</span><div class="quiet">attempt {}</div>', obj.status,
                           obj.get_status_display(), obj.attempts)

    @admin.display(description="Remote response")
    def remote_response_display(self, obj: SyncException) -> str:
        return pretty_json(obj.remote_response)

    @admin.display(description="Transformed payload (as mapped)")
    def transformed_payload_display(self, obj: SyncException) -> str:
        return pretty_json(obj.transformed_payload)

    @admin.display(description="Edited payload (sent instead)")
    def edited_payload_display(self, obj: SyncException) -> str:
        return pretty_json(obj.edited_payload)

    @admin.display(description="Source record")
    def source_payload_display(self, obj: SyncException) -> str:
        return pretty_json(obj.source_payload)

    def save_model(self, request: HttpRequest, obj: SyncException, form: Any, change: bool) -> None:
        if "assignee" in form.changed_data:
            exception_assign(exceptions=[obj], assignee=obj.assignee, actor=request.user)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None):  # type: ignore[no-untyped-def]
        exception = self.get_object(request, object_id)
        if exception is None and str(object_id).isdigit():
            # Closed meanwhile (a later success) or reopened: the same exception lives on the
            # other list; a bookmark or a reload should find it there.
            moved = SyncException.objects.filter(pk=object_id).first()
            if moved is not None:
                model = "openexception" if moved.is_open else "resolvedexception"
                return HttpResponseRedirect(reverse(f"admin:integrations_{model}_change", args=[moved.pk]))
        can_act = bool(exception and exception.is_open and request.user.has_perm("integrations.change_openexception"))
        extra_context = {
            **(extra_context or {}),
            "can_act": can_act,
            "can_edit_payload": can_act and isinstance(exception.transformed_payload or exception.edited_payload, dict),
            "timeline_url": timeline_url(exception) if exception else None,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        cl = getattr(response, "context_data", {}).get("cl") if hasattr(response, "context_data") else None
        if cl is not None:
            panel = self.code_groups(request, cl)
            response.context_data["code_groups"] = panel["groups"]
            response.context_data["codes_sample"] = panel["sample"]
            if request.GET.get(CodeFilter.parameter_name):
                response.context_data["code_selected_clear"] = cl.get_query_string(
                    remove=[CodeFilter.parameter_name, "p"])
        return response

    def code_groups(self, request: HttpRequest, cl: Any) -> dict[str, Any]:
        """How many exceptions of each code the current filters hold, largest first.

        With no filter, or a flow, the counts come from the (flow, code) indexes: exact up to
        the paginator's cap and the planner's estimate beyond it, one round trip for all
        codes. Any other filter can leave a code with no match among its rows, and proving
        that would read them all; the panel then groups the newest rows that match instead
        (at most CODES_SAMPLE, the work of a few pages) and says so."""
        selected = request.GET.get(CodeFilter.parameter_name)
        queryset = cl.queryset
        if selected:
            queryset = queryset.model._default_manager.all()
            for spec in cl.filter_specs:
                if not isinstance(spec, CodeFilter):
                    filtered = spec.queryset(request, queryset)
                    queryset = queryset if filtered is None else filtered
            queryset = queryset.order_by("-created_at", "-id")
        used = {key for key, value in request.GET.items() if value} - {"p", "o", "e", CodeFilter.parameter_name}
        counts: list[tuple[str, int, bool]] = []
        sampled = bool(used - INDEXED_FILTERS)
        if sampled:
            newest = Counter(queryset.values_list("code", flat=True)[:CODES_SAMPLE + 1])
            sampled = sum(newest.values()) > CODES_SAMPLE
            if sampled:
                newest = Counter(queryset.values_list("code", flat=True)[:CODES_SAMPLE])
            counts = [(code, count, False) for code, count in newest.items()]
        else:
            codes = exception_codes_cached(request, self.statuses)
            unordered = queryset.order_by()
            counts = [(code, count, estimate) for code, (count, estimate)
                      in zip(codes, bounded_counts([unordered.filter(code=code) for code in codes]), strict=True)]
        groups = [{"code": code, "count": count, "estimate": estimate, "selected": code == selected,
                   "url": cl.get_query_string({CodeFilter.parameter_name: code}, ["p"])}
                  for code, count, estimate in counts if count]
        groups.sort(key=lambda group: (-group["count"], group["code"]))
        return {"groups": groups, "sample": CODES_SAMPLE if sampled else None}


@admin.register(OpenException)
class OpenExceptionAdmin(ExceptionAdminBase):
    statuses = OPEN_EXCEPTION_STATUSES
    actions = ["retry_selected", "resolve_selected", "ignore_selected", "assign_selected"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def _bulk_form(self, request: HttpRequest, queryset: QuerySet, *, form: Any, action: str, title: str,
                   button: str, intro: str) -> TemplateResponse:
        opts = self.model._meta
        paginator = EstimatedCountPaginator(queryset, 20)
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": opts,
            "form": form,
            "action": action,
            "button": button,
            "intro": intro,
            "count": paginator.count,
            "count_is_estimate": paginator.is_estimate,
            "sample": paginator.page(1).object_list,
            "select_across": request.POST.get("select_across", "0"),
            "selected_ids": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "bulk": True,
        }
        return TemplateResponse(request, "integrations/queue/action_form.html", context)

    @admin.action(description="Retry selected exceptions now", permissions=["change"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        result = exception_retry(exceptions=queryset, actor=request.user)
        retry_message(request, result)

    def _form_action(self, request: HttpRequest, queryset: QuerySet, *, form_class: type, action: str, title: str,
                     button: str, intro: str, apply: Any) -> TemplateResponse | None:
        """An action with an intermediate form: the form first, then ``apply(cleaned_data)``
        (which returns the message for the person) once it is posted back valid."""
        form = form_class(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self.message_user(request, apply(form.cleaned_data), messages.SUCCESS)
            return None
        return self._bulk_form(request, queryset, form=form, action=action, title=title, button=button, intro=intro)

    @admin.action(description="Resolve selected exceptions (with a note)\u2026", permissions=["change"])
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        def apply(data: dict[str, Any]) -> str:
            count = exception_resolve(exceptions=queryset, note=data["note"], actor=request.user)
            return f"Resolved {count} exception(s)."

        return self._form_action(request, queryset, form_class=ResolveForm, action="resolve_selected",
                                 title="Resolve exceptions", button="Resolve", apply=apply,
                                 intro="The records were settled outside the flow. Say how; the note stays on each "
                                       "exception and in the audit trail.")

    @admin.action(description="Ignore selected exceptions\u2026", permissions=["change"])
    def ignore_selected(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        def apply(data: dict[str, Any]) -> str:
            count = exception_ignore(exceptions=queryset, note=data["note"], actor=request.user)
            return f"Ignored {count} exception(s)."

        return self._form_action(request, queryset, form_class=IgnoreForm, action="ignore_selected",
                                 title="Ignore exceptions", button="Ignore", apply=apply,
                                 intro="These records need no sync; their exceptions close as ignored (they stay "
                                       "browsable under resolved exceptions).")

    @admin.action(description="Assign selected exceptions\u2026", permissions=["change"])
    def assign_selected(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        def apply(data: dict[str, Any]) -> str:
            assignee = data["assignee"]
            count = exception_assign(exceptions=queryset.select_related("flow__source_connection"),
                                     assignee=assignee, actor=request.user)
            return f"Assigned {count} exception(s) to {assignee.get_username() if assignee else 'nobody'}."

        return self._form_action(request, queryset, form_class=AssignForm, action="assign_selected",
                                 title="Assign exceptions", button="Assign", apply=apply,
                                 intro="Give these exceptions to one person to work on.")


def retry_message(request: HttpRequest, result: Any) -> None:
    """Tell the person what a retry click did (used by the bulk action and the single button)."""
    if not result.count:
        messages.warning(request, "Nothing to retry: the selected exceptions are closed already.")
        return
    runs = ", ".join(f"{run.flow.name} (run #{run.pk})" for run in result.runs)
    text = f"Retrying {result.count} exception(s)"
    text += f": queued a retry run of {runs}." if runs else "."
    messages.success(request, text)
    for flow in result.busy_flows:
        messages.info(request, f"{flow.name} has a run in progress; the retry follows as soon as it ends.")


@admin.register(ResolvedException)
class ResolvedExceptionAdmin(ExceptionAdminBase):
    statuses = CLOSED_EXCEPTION_STATUSES
    list_display = ["age", "record_ref_or_id", "flow", "code_and_class", "status_badge", "resolved_by", "resolved_at",
                    "resolution_note"]
    list_filter = [QueueStatusFilter, "flow", ConnectionFilter, "error_class", "stage", CodeFilter, AgeFilter]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}

