"""The auditors' views: the audit trail (by record, run, user, operation, action and time),
its CSV export, and the configuration history of connections, flows and mappings.

All of them only read; they need the view permission of what they show and nothing else, so
auditors (who may view everything and change nothing) see all of it and every role sees what
its permissions allow. Secrets never reach them: audit events hold none, and the connection's
history does not record its credentials (``HistoricalRecords(excluded_fields=["credentials"])``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timezone as dt_timezone
from typing import Any
from urllib.parse import urlencode

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import InvalidPage
from django.db.models import Model, QuerySet, TextField
from django.db.models.functions import Cast
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.views.decorators.http import require_GET

from integrations.forms import AuditFilterForm, ConfigHistoryFilterForm
from integrations.log_actions import log_actions
from integrations.models import AuditEvent, AuditSource
from integrations.paginator import EstimatedCountPaginator
from integrations.roles import CONFIG_MODELS

PER_PAGE = 50
EXPORT_CHUNK = 5000
VIEW_AUDIT = "integrations.view_auditevent"


# AuditFilterForm's fields and the lookups they make (the user is looked up by name).
AUDIT_LOOKUPS = {"system": "object_system", "object_type": "object_type", "object_id": "object_id", "run": "run_id",
                 "action": "action", "correlation_id": "correlation_id", "since": "created_at__gte",
                 "until": "created_at__lte"}


def audit_events_filtered(filters: dict[str, Any]) -> QuerySet:
    """The trail narrowed by the auditor's filters (cleaned :class:`AuditFilterForm` data),
    newest first. Each filter is served by an index: the record, the run, the actor (each
    with the time), the correlation id, the action, the time alone."""
    events = AuditEvent.objects.filter(**{lookup: filters[name] for name, lookup in AUDIT_LOOKUPS.items()
                                          if filters.get(name) not in (None, "")})
    if filters.get("user"):
        user = get_user_model().objects.filter(username=filters["user"]).first()
        # A deleted user's events keep the username they had (the label) but not the id.
        events = events.filter(actor_id=user.pk) if user else events.filter(actor_label=filters["user"])
    return events.order_by("-created_at", "-id")


def _audit_filters(request: HttpRequest) -> tuple[AuditFilterForm, dict[str, Any]]:
    if not request.user.has_perm(VIEW_AUDIT):
        raise PermissionDenied
    form = AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    return form, filters


def _query(request: HttpRequest, **changes: Any) -> str:
    params = request.GET.copy()
    for key, value in changes.items():
        params.pop(key, None)
        if value not in (None, ""):
            params[key] = value
    return params.urlencode()


@staff_member_required
@require_GET
def audit_trail_view(request: HttpRequest) -> HttpResponse:
    form, filters = _audit_filters(request)
    events = audit_events_filtered(filters).select_related("flow")
    paginator = EstimatedCountPaginator(events, PER_PAGE)
    try:
        page = paginator.page(request.GET.get("p", 1))
    except InvalidPage:
        raise Http404("No such page of the audit trail.") from None
    rows = [{"event": event, "description": log_actions.describe(event),
             "label": log_actions.get(event.action).label if event.action in log_actions else event.action,
             "record_query": urlencode({"system": event.object_system, "object_type": event.object_type,
                                        "object_id": event.object_id}),
             "details": _details(event)}
            for event in page.object_list]
    context = {
        **admin.site.each_context(request),
        "title": "Audit trail",
        "form": form,
        "rows": rows,
        "page": page,
        "count": paginator.count,
        "count_is_estimate": paginator.is_estimate,
        "previous_query": _query(request, p=page.number - 1) if page.has_previous() else None,
        "next_query": _query(request, p=page.number + 1) if page.has_next() else None,
        "export_query": _query(request, p=None),
        "filtered": bool(filters),
        "sources": dict(AuditSource.choices),
        "can_view_runs": request.user.has_perm("integrations.view_syncrun"),
    }
    return TemplateResponse(request, "integrations/audit/trail.html", context)


def _details(event: AuditEvent) -> list[tuple[str, str]]:
    details = []
    for label, value in (("Details", event.data), ("Before", event.before), ("After", event.after)):
        if value not in (None, {}, []):
            details.append((label, json.dumps(value, indent=2, ensure_ascii=False, default=str)))
    return details


# --- CSV export ----------------------------------------------------------------------------------

EXPORT_FIELDS = ["created_at", "action", "actor_label", "source", "object_system", "object_type", "object_id",
                 "object_ref", "flow_id", "run_id", "record_link_id", "api_call_id"]
# JSON and UUID columns are read as text: written to the CSV as the database holds them,
# without building Python objects for millions of rows only to serialise them again.
EXPORT_TEXT = ["correlation_id", "data", "before", "after"]
EXPORT_HEADER = ["time (UTC)", "action", "what happened", "user", "source", "system", "record type", "record id",
                 "record ref", "flow id", "run id", "record link id", "api call id", "operation (correlation id)",
                 "details (JSON)", "before (JSON)", "after (JSON)"]


class _EventRow:
    """The fields an action's description reads, without building a model instance per row
    (five million of those would cost more than the query)."""

    __slots__ = ("action", "object_type", "object_id", "object_ref", "actor_label", "data")

    def __init__(self, action: str, object_type: str, object_id: str, object_ref: str, actor_label: str,
                 data: Any) -> None:
        self.action, self.object_type, self.object_id = action, object_type, object_id
        self.object_ref, self.actor_label, self.data = object_ref, actor_label, data


def audit_csv_chunks(events: QuerySet, *, chunk_size: int = EXPORT_CHUNK) -> Iterator[str]:
    """The trail as CSV text, a chunk of rows at a time: the query streams through a
    server-side cursor (``iterator``) so memory stays flat at millions of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_HEADER)
    texts = {f"{name}_text": Cast(name, TextField()) for name in EXPORT_TEXT}
    rows = events.annotate(**texts).values_list(*EXPORT_FIELDS, *texts).iterator(chunk_size=chunk_size)
    utc = dt_timezone.utc
    for count, (created_at, action, actor_label, source, system, object_type, object_id, object_ref, flow_id, run_id,
                link_id, call_id, correlation_id, data, before, after) in enumerate(rows, 1):
        parsed = json.loads(data) if data and data != "{}" else {}
        description = log_actions.describe(_EventRow(action, object_type, object_id, object_ref, actor_label, parsed))  # type: ignore[arg-type]
        writer.writerow([
            created_at.astimezone(utc).isoformat(), action, description, actor_label or "system", source,
            system, object_type, object_id, object_ref, flow_id or "", run_id or "", link_id or "", call_id or "",
            correlation_id, "" if not parsed else data, _json_text(before), _json_text(after),
        ])
        if count % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _json_text(value: str | None) -> str:
    return "" if value in (None, "null", "{}", "[]") else value


@staff_member_required
@require_GET
def audit_export_view(request: HttpRequest) -> StreamingHttpResponse:
    form, filters = _audit_filters(request)
    if form.is_bound and not form.is_valid():
        raise Http404("The filters are not valid; correct them on the audit trail page first.")
    events = audit_events_filtered(filters)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(audit_csv_chunks(events), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-trail-{stamp}.csv"'
    return response


# --- Configuration history -------------------------------------------------------------------------

HIDDEN_HISTORY_FIELDS = {"id", "created_at", "updated_at"}


def _config_models(request: HttpRequest) -> list[type[Model]]:
    models = [apps.get_model(label) for label in CONFIG_MODELS]
    return [m for m in models if request.user.has_perm(f"{m._meta.app_label}.view_{m._meta.model_name}")]


def _shown(model_field: Any, value: Any) -> Any:
    """A history value as people read it: the choice's label, the related object's name."""
    if value is None or value == "":
        return value
    if model_field.choices:
        return dict(model_field.flatchoices).get(value, value)
    if model_field.is_relation:
        related = model_field.related_model._default_manager.filter(pk=value).first()
        return str(related) if related is not None else f"#{value} (deleted)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _changes(record: Any) -> list[tuple[str, Any, Any]]:
    """What this history record changed: (field, old, new) against the one before; for a
    creation, the values it was created with."""
    fields = {f.attname: f for f in record.instance_type._meta.fields}
    by_name = {f.name: f for f in fields.values()}
    if record.history_type == "+" or record.prev_record is None:
        values = []
        for name, model_field in fields.items():
            if name in HIDDEN_HISTORY_FIELDS or not hasattr(record, name):
                continue
            value = getattr(record, name)
            if value not in (None, "", {}, []):
                values.append((capfirst(model_field.verbose_name), None, _shown(model_field, value)))
        return values
    excluded = [name for name in HIDDEN_HISTORY_FIELDS if name in by_name]
    delta = record.diff_against(record.prev_record, excluded_fields=excluded)
    changes = []
    for change in delta.changes:
        model_field = by_name.get(change.field) or fields.get(change.field)
        if model_field is None:
            changes.append((change.field, change.old, change.new))
        else:
            changes.append((capfirst(model_field.verbose_name), _shown(model_field, change.old),
                            _shown(model_field, change.new)))
    return changes


@staff_member_required
@require_GET
def config_history_view(request: HttpRequest) -> HttpResponse:
    models = _config_models(request)
    if not models:
        raise PermissionDenied
    names = [m._meta.model_name for m in models]
    chosen = request.GET.get("model") or names[0]
    if chosen not in names:
        raise Http404("No history of that kind, or not for you.")
    model = models[names.index(chosen)]
    form = ConfigHistoryFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    records = model.history.select_related("history_user").order_by("-history_date", "-history_id")
    if filters.get("user"):
        records = records.filter(history_user__username=filters["user"])
    if filters.get("object_id"):
        records = records.filter(id=filters["object_id"]) if filters["object_id"].isdigit() else records.none()
    if filters.get("since"):
        records = records.filter(history_date__gte=filters["since"])
    if filters.get("until"):
        records = records.filter(history_date__lte=filters["until"])
    paginator = EstimatedCountPaginator(records, PER_PAGE)
    try:
        page = paginator.page(request.GET.get("p", 1))
    except InvalidPage:
        raise Http404("No such page.") from None
    kinds = {"+": "Created", "~": "Changed", "-": "Deleted"}
    rows = [{"record": record, "kind": kinds.get(record.history_type, record.history_type),
             "object": str(record.instance), "changes": _changes(record),
             "object_url": reverse(f"admin:{model._meta.app_label}_{chosen}_change", args=[record.id])}
            for record in page.object_list]
    context = {
        **admin.site.each_context(request),
        "title": "Configuration history",
        "form": form,
        "tabs": [{"name": m._meta.model_name, "label": str(m._meta.verbose_name_plural).capitalize(),
                  "query": urlencode({"model": m._meta.model_name}), "active": m._meta.model_name == chosen}
                 for m in models],
        "model_label": str(model._meta.verbose_name_plural),
        "model_name": chosen,
        "rows": rows,
        "page": page,
        "previous_query": _query(request, p=page.number - 1) if page.has_previous() else None,
        "next_query": _query(request, p=page.number + 1) if page.has_next() else None,
    }
    return TemplateResponse(request, "integrations/audit/config_history.html", context)
