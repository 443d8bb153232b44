"""The record timeline page: ``?system=<system>&type=<object type>&id=<external id>``.

For everyone who may view the audit trail (finance, integration admins, auditors). Read only;
the work is ``integrations.services.timeline``."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

from integrations.models import System
from integrations.services.timeline import record_timeline, timeline_find, timeline_kinds_for, timeline_url

VIEW_PERMISSION = "integrations.view_auditevent"


def record_timeline_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied
    system = request.GET.get("system", "").strip()
    object_type = request.GET.get("type", "").strip()
    object_id = request.GET.get("id", "").strip()
    query = request.GET.get("q", "").strip()
    context = {
        **admin.site.each_context(request),
        "title": "Record timeline",
        "systems": System.choices,
        "system": system, "object_type": object_type, "object_id": object_id, "query": query,
    }
    if system and object_type and object_id:
        timeline = record_timeline(system=system, object_type=object_type, object_id=object_id,
                                   cursor=request.GET.get("before", ""), kinds=timeline_kinds_for(request.user))
        subject = timeline.subject
        context.update(
            timeline=timeline,
            title=f"Timeline of {subject.key.system_label} {subject.key.type_label} {subject.ref or subject.key.id}",
            next_url=(timeline_url(system=system, object_type=object_type, object_id=object_id)
                      + f"&before={timeline.next_cursor}") if timeline.next_cursor else "",
            first_url=timeline_url(system=system, object_type=object_type, object_id=object_id)
            if request.GET.get("before") else "",
        )
    elif query:
        found = timeline_find(query=query)
        if len(found) == 1:
            return HttpResponseRedirect(found[0].timeline_url)
        context["found"] = found
    return TemplateResponse(request, "integrations/timeline/timeline.html", context)
