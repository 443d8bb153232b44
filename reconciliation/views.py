"""The reconciliation screen (finance): unmatched payments and bank lines beside their ranked
candidates; confirm, reject, split, undo, bulk-accept, retry a posting.

Thin views: each parses the request, checks the permission, calls one service from
``reconciliation.services.matches`` or ``posting`` and redirects back with a message. Viewing
needs ``view_match`` (Finance, Auditors); every action needs ``change_match`` (Finance), so an
auditor sees the screen without buttons and any action they send is refused (403).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from integrations.models import Connection
from reconciliation.forms import BulkAcceptForm, ScreenFilterForm, split_amounts
from reconciliation.models import PAYING_KINDS, LedgerDocument, Match, ReconciliationScreen
from reconciliation.selectors import (
    PAGE_SIZE, ScreenFilters, document_label, matches_recent, payments_unmatched, screen_counts, screen_rows,
)
from reconciliation.services.matches import (
    ActionRefused, match_confirm, match_reject, match_split, match_undo, matches_bulk_accept, parse_split,
)

VIEW = "reconciliation.view_match"
ACT = "reconciliation.change_match"


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


def _back(request: HttpRequest, anchor: str = "") -> HttpResponseRedirect:
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        target = reverse("reconciliation:screen")
    return HttpResponseRedirect(f"{target}{'#' + anchor if anchor else ''}")


def screen(request: HttpRequest) -> HttpResponse:
    _require(request, VIEW)
    form = ScreenFilterForm(request.GET or None)
    filters = ScreenFilters()
    if form.is_valid():
        filters = ScreenFilters(connection=form.cleaned_data["connection"], kind=form.cleaned_data["kind"],
                                search=form.cleaned_data["q"].strip())
    page = Paginator(payments_unmatched(filters=filters), PAGE_SIZE).get_page(request.GET.get("page"))
    opts = ReconciliationScreen._meta
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": "Reconciliation",
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "form": form,
        "bulk_form": BulkAcceptForm(),
        "page": page,
        "rows": screen_rows(payments=list(page.object_list)),
        "recent": matches_recent(),
        "counts": screen_counts(),
        "connections": Connection.objects.filter(pk__in=LedgerDocument.objects.filter(kind__in=PAYING_KINDS)
                                                 .values("connection")),
        "can_act": request.user.has_perm(ACT),
        "next": request.get_full_path(),
    }
    return TemplateResponse(request, "reconciliation/screen.html", context)


@require_POST
def match_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    _require(request, ACT)
    match = get_object_or_404(Match.objects.select_related("payment"), pk=pk)
    label = document_label(match.payment)
    try:
        if action == "confirm":
            match_confirm(match=match, user=request.user)
            messages.success(request, f"Confirmed: {label}. It is being posted.")
        elif action == "reject":
            match_reject(match=match, user=request.user)
            messages.success(request, f"Rejected the suggestion for {label}.")
        elif action == "undo":
            match_undo(match=match, user=request.user)
            messages.success(request, f"Undone: {label} is unmatched again; anything posted was reversed.")
        elif action == "post":
            from reconciliation.services.posting import match_post

            match = match_post(match_id=match.pk, force=True) or match
            messages.info(request, f"{label}: {match.get_posting_status_display()}.")
        else:
            raise PermissionDenied
    except ActionRefused as exc:
        messages.error(request, f"{label}: {exc}")
    return _back(request, f"payment-{match.payment_id}")


@require_POST
def payment_split(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, ACT)
    payment = get_object_or_404(LedgerDocument, pk=pk, kind__in=PAYING_KINDS)
    try:
        lines = parse_split(payment=payment, amounts=split_amounts(request.POST))
        match_split(payment=payment, lines=lines, user=request.user)
    except ActionRefused as exc:
        messages.error(request, f"Split of {document_label(payment)} refused: {exc}")
        return _back(request, f"payment-{payment.pk}")
    numbers = ", ".join(f"{line.document.number} ({line.amount:,.2f})" for line in lines)
    messages.success(request, f"Split {document_label(payment)} across {numbers}. It is being posted.")
    return _back(request)


@require_POST
def bulk_accept(request: HttpRequest) -> HttpResponse:
    _require(request, ACT)
    form = BulkAcceptForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Bulk accept: " + " ".join(e for errors in form.errors.values() for e in errors))
        return _back(request)
    try:
        confirmed, problems = matches_bulk_accept(min_score=form.min_score(), user=request.user)
    except ActionRefused as exc:
        messages.error(request, str(exc))
        return _back(request)
    threshold = f"{form.cleaned_data['min_confidence'].normalize():f}%"
    if confirmed:
        messages.success(request, f"Accepted {confirmed} suggestion{'s' if confirmed != 1 else ''} scoring {threshold} or more.")
    else:
        messages.info(request, f"No suggestion scores {threshold} or more.")
    for problem in problems[:5]:
        messages.warning(request, problem)
    return _back(request)
