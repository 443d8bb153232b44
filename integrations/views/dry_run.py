"""The admin's dry run page of a flow: pick a source record, see what a run would do with it.

Reached from the flow's change page ("Dry run") at ``admin/integrations/flow/<id>/dry-run/``;
for people who may change the flow (integration admins, superusers). The page only reads:
the work is ``integrations.services.dry_run``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin import ModelAdmin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from integrations.services.dry_run import flow_dry_run, flow_source_records_recent


class DryRunForm(forms.Form):
    source_id = forms.CharField(
        label="Source record id", max_length=200, strip=True,
        help_text="The record's id in the source system (its API id, not the number people see).",
    )


def flow_dry_run_view(request: HttpRequest, *, model_admin: ModelAdmin, object_id: str) -> HttpResponse:
    # Model permission first, so that people who may not dry-run learn nothing of which flows exist.
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    flow = model_admin.get_object(request, unquote(object_id))
    if flow is None:
        raise Http404("No such flow.")
    if not model_admin.has_change_permission(request, flow):
        raise PermissionDenied
    form = DryRunForm(request.POST if request.method == "POST" else None,
                      initial={"source_id": request.GET.get("source_id", "")})
    result = recent = None
    if form.is_bound and form.is_valid():
        result = flow_dry_run(flow=flow, source_id=form.cleaned_data["source_id"])
    else:
        recent = flow_source_records_recent(flow=flow)
    opts = model_admin.model._meta
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "title": f"Dry run: {flow}",
        "opts": opts,
        "original": flow,
        "has_view_permission": model_admin.has_view_permission(request, flow),
        "can_view_api_calls": request.user.has_perm("integrations.view_apicall"),
        "form": form,
        "result": result,
        "recent": recent,
    }
    return TemplateResponse(request, "admin/integrations/flow/dry_run.html", context)
