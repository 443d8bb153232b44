"""One exception's actions, reached from its page in the review queue: retry, resolve (with a
note), ignore, assign, and edit-and-retry (the payload editor beside the original).

Thin views: they check the permission to act on the queue (Finance, superusers), parse the
form, call one service of ``integrations.services.exceptions`` and go back to the exception.
Everyone else gets 403, auditors included."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from integrations.admin.exceptions import retry_message, timeline_url
from integrations.forms import AssignForm, IgnoreForm, PayloadEditForm, ResolveForm
from integrations.models import OpenException, SyncException
from integrations.services.exceptions import (
    exception_assign,
    exception_edit_and_retry,
    exception_ignore,
    exception_resolve,
    exception_retry,
)

ACT_PERMISSION = "integrations.change_openexception"


def _exception_to_act_on(request: HttpRequest, pk: int) -> SyncException:
    if not request.user.has_perm(ACT_PERMISSION):
        raise PermissionDenied
    return get_object_or_404(SyncException.objects.select_related("flow__source_connection", "assignee"), pk=pk)


def _back(exception: SyncException) -> HttpResponseRedirect:
    model = "openexception" if exception.is_open else "resolvedexception"
    return HttpResponseRedirect(reverse(f"admin:integrations_{model}_change", args=[exception.pk]))


def _closed(request: HttpRequest, exception: SyncException) -> HttpResponseRedirect:
    messages.warning(request, f"This exception is {exception.get_status_display().lower()} already; nothing changed.")
    return _back(exception)


def _page_context(request: HttpRequest, exception: SyncException, title: str) -> dict[str, Any]:
    return {
        **admin.site.each_context(request),
        "title": title,
        "opts": OpenException._meta,
        "exception": exception,
        "timeline_url": timeline_url(exception),
    }


@staff_member_required
@require_POST
def exception_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    exception = _exception_to_act_on(request, pk)
    if not exception.is_open:
        return _closed(request, exception)
    retry_message(request, exception_retry(exceptions=[exception], actor=request.user))
    exception.refresh_from_db()
    return _back(exception)


FORMS = {
    "resolve": (ResolveForm, "Resolve", "The record was settled outside the flow. Say how: the note stays on the "
                                        "exception and in the audit trail."),
    "ignore": (IgnoreForm, "Ignore", "The record needs no sync; its exception closes as ignored and stays browsable "
                                     "under resolved exceptions."),
    "assign": (AssignForm, "Assign", "Give this exception to one person to work on."),
}


@staff_member_required
@require_http_methods(["GET", "POST"])
def exception_action_view(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Resolve, ignore or assign one exception: the form on GET, the action on POST."""
    if action not in FORMS:
        raise PermissionDenied
    exception = _exception_to_act_on(request, pk)
    if not exception.is_open:
        return _closed(request, exception)
    form_class, button, intro = FORMS[action]
    initial = {"assignee": exception.assignee_id} if action == "assign" else None
    form = form_class(request.POST if request.method == "POST" else None, initial=initial)
    if form.is_bound and form.is_valid():
        if action == "resolve":
            exception_resolve(exceptions=[exception], note=form.cleaned_data["note"], actor=request.user)
            messages.success(request, f"Resolved {exception}.")
        elif action == "ignore":
            exception_ignore(exceptions=[exception], note=form.cleaned_data["note"], actor=request.user)
            messages.success(request, f"Ignored {exception}.")
        else:
            assignee = form.cleaned_data["assignee"]
            exception_assign(exceptions=[exception], assignee=assignee, actor=request.user)
            messages.success(request, f"Assigned {exception} to {assignee.get_username() if assignee else 'nobody'}.")
        exception.refresh_from_db()
        return _back(exception)
    context = {**_page_context(request, exception, f"{button}: {exception}"), "form": form, "button": button,
               "intro": intro, "action": action, "bulk": False}
    return TemplateResponse(request, "integrations/queue/action_form.html", context)


@staff_member_required
@require_http_methods(["GET", "POST"])
def exception_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit and retry: the original transformed payload beside an editor of it (fields for the
    common values, JSON for all); saving keeps the edit in ``edited_payload`` and retries."""
    exception = _exception_to_act_on(request, pk)
    if not exception.is_open:
        return _closed(request, exception)
    start = exception.edited_payload if isinstance(exception.edited_payload, dict) else exception.transformed_payload
    if not isinstance(start, dict):
        messages.warning(request, "This record failed before a payload was built, so there is nothing to edit: fix "
                                  "the mapping or the source record, then retry.")
        return _back(exception)
    form = PayloadEditForm(request.POST if request.method == "POST" else None, payload=start)
    if form.is_bound and form.is_valid():
        result = exception_edit_and_retry(exception=exception, payload=form.cleaned_data["payload"], actor=request.user)
        messages.success(request, "Saved your edit; the retry run sends it in place of the mapped payload.")
        retry_message(request, result)
        exception.refresh_from_db()
        return _back(exception)
    context = {
        **_page_context(request, exception, f"Edit and retry: {exception}"),
        "form": form,
        "original_json": json.dumps(exception.transformed_payload, indent=2, ensure_ascii=False),
        "editing_previous_edit": isinstance(exception.edited_payload, dict),
    }
    return TemplateResponse(request, "integrations/queue/edit.html", context)
