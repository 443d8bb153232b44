from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from integrations.admin.base import HistoryAdmin
from reconciliation.models import (
    AllocationPosting,
    DocumentCursor,
    LedgerDocument,
    Match,
    MatchAllocation,
    MatchLabel,
    ReconciliationScreen,
)


@admin.register(LedgerDocument)
class LedgerDocumentAdmin(HistoryAdmin):
    """Documents are copies of the connected systems' records: read-only here."""

    list_display = ["issue_date", "kind", "number", "reference", "contact_name", "currency", "amount", "amount_due",
                    "status", "connection"]
    list_filter = ["kind", "direction", "currency", "status", "connection"]
    search_fields = ["number", "reference", "contact_name", "=external_id"]
    date_hierarchy = "issue_date"
    list_select_related = ["connection"]


class MatchAllocationInline(admin.TabularInline):
    model = MatchAllocation
    extra = 0
    fields = ["document", "amount", "payment_amount", "active"]
    readonly_fields = ["document", "amount", "payment_amount", "active"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Match)
class MatchAdmin(HistoryAdmin):
    """Matches are made and changed on the reconciliation screen (confirm, reject, split,
    undo), which audits and posts them; the admin only lists them."""

    list_display = ["created_at", "payment", "status", "band", "rank", "score", "posting_status", "confirmed_by"]
    list_filter = ["status", "band", "posting_status"]
    search_fields = ["payment__reference", "payment__number", "allocations__document__number"]
    date_hierarchy = "created_at"
    list_select_related = ["payment", "confirmed_by"]
    inlines = [MatchAllocationInline]
    readonly_fields = ["payment", "status", "band", "rank", "score", "reasons", "confirmed_by", "confirmed_at",
                       "posting_status", "posted_at", "correlation_id", "created_at", "updated_at"]


@admin.register(MatchAllocation)
class MatchAllocationAdmin(HistoryAdmin):
    list_display = ["match", "document", "amount", "payment_amount", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["document__number", "match__payment__reference"]
    date_hierarchy = "created_at"
    list_select_related = ["match__payment", "document"]


@admin.register(AllocationPosting)
class AllocationPostingAdmin(HistoryAdmin):
    """What each allocation wrote to Xero or TIMS, with its key and its last error."""

    list_display = ["updated_at", "allocation", "kind", "status", "remote_id", "attempts", "next_attempt_at",
                    "connection"]
    list_filter = ["status", "kind", "connection"]
    search_fields = ["=idempotency_key", "=remote_id", "allocation__document__number"]
    date_hierarchy = "updated_at"
    list_select_related = ["allocation__document", "connection"]


@admin.register(MatchLabel)
class MatchLabelAdmin(HistoryAdmin):
    """People's corrections of the matcher, kept to tune it."""

    list_display = ["created_at", "kind", "payment", "match", "created_by"]
    list_filter = ["kind"]
    search_fields = ["payment__reference", "payment__number", "created_by__username"]
    date_hierarchy = "created_at"
    list_select_related = ["payment", "created_by"]


@admin.register(DocumentCursor)
class DocumentCursorAdmin(HistoryAdmin):
    list_display = ["connection", "entity", "high_water", "updated_at"]
    list_filter = ["connection", "entity"]
    search_fields = ["entity", "connection__name"]
    date_hierarchy = "updated_at"


@admin.register(ReconciliationScreen)
class ReconciliationScreenAdmin(admin.ModelAdmin):
    """The screen's entry in the admin index: its list opens the reconciliation screen. Shown
    to whoever may view matches (Finance, Auditors)."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("reconciliation.view_match")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        return HttpResponseRedirect(reverse("reconciliation:screen"))
