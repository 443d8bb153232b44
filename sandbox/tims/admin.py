"""Admin of the TIMS sandbox: sites, API clients and their limits, subscriptions, the outbox.
Fault settings are the shared FaultSetting admin (system "tims", tenant key = site code)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from sandbox import models as m
from sandbox.tims.webhooks import deliver_pending


class ApiClientInline(admin.TabularInline):
    model = m.TimsApiClient
    extra = 0
    fields = ["name", "client_id", "is_active", "minute_limit", "window_seconds", "concurrent_limit", "token_seconds"]
    readonly_fields = ["client_id"]


@admin.register(m.TimsSite)
class TimsSiteAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "base_currency", "closed_through", "allow_http_webhook_urls", "faults", "created_at"]
    search_fields = ["code", "name"]
    readonly_fields = ["faults", "counters"]
    inlines = [ApiClientInline]

    @admin.display(description="Injected faults")
    def faults(self, site: m.TimsSite) -> str:
        """The site's shared FaultSetting (system "tims", tenant key = site code): a link to it."""
        setting = m.FaultSetting.objects.filter(system="tims", tenant_key=site.code).first()
        if setting is None:
            url = reverse("admin:sandbox_faultsetting_add") + "?" + urlencode({"system": "tims", "tenant_key": site.code})
            return format_html('<a href="{}">none (add)</a>', url)
        summary = "active" if setting.is_active else "off"
        return format_html('<a href="{}">{}</a>', reverse("admin:sandbox_faultsetting_change", args=[setting.pk]), summary)


@admin.register(m.TimsApiClient)
class TimsApiClientAdmin(admin.ModelAdmin):
    list_display = ["name", "site", "client_id", "is_active", "minute_limit", "window_seconds", "concurrent_limit", "token_seconds"]
    list_filter = ["site", "is_active"]
    search_fields = ["name", "client_id"]
    fieldsets = [
        (None, {"fields": ["site", "name", "client_id", "client_secret", "is_active", "scopes"]}),
        ("Tokens and idempotency", {"fields": ["token_seconds", "idempotency_ttl_seconds"]}),
        ("Limits (RateLimit-* headers, 429 + Retry-After)", {"fields": ["minute_limit", "window_seconds", "concurrent_limit"]}),
    ]


class RecordAdmin(admin.ModelAdmin):
    list_filter = ["site"]
    readonly_fields = ["id", "created_at", "updated_at", "version", "last_modified_by"]
    date_hierarchy = "updated_at"


@admin.register(m.TimsCustomer)
class TimsCustomerAdmin(RecordAdmin):
    list_display = ["customer_code", "name", "status", "currency", "updated_at", "version"]
    search_fields = ["customer_code", "name"]


@admin.register(m.TimsVendor)
class TimsVendorAdmin(RecordAdmin):
    list_display = ["vendor_code", "name", "status", "currency", "updated_at", "version"]
    search_fields = ["vendor_code", "name"]


@admin.register(m.TimsProduct)
class TimsProductAdmin(RecordAdmin):
    list_display = ["sku", "name", "category", "tracked", "sale_price", "average_cost", "status"]
    search_fields = ["sku", "name"]


@admin.register(m.TimsSalesOrder)
class TimsSalesOrderAdmin(RecordAdmin):
    list_display = ["order_number", "customer", "status", "total", "currency", "updated_at"]
    list_filter = ["site", "status"]
    search_fields = ["order_number"]


@admin.register(m.TimsReceivableInvoice)
class TimsReceivableInvoiceAdmin(RecordAdmin):
    list_display = ["invoice_number", "customer", "status", "total", "amount_due", "currency"]
    list_filter = ["site", "status"]
    search_fields = ["invoice_number"]


@admin.register(m.TimsPayment)
class TimsPaymentAdmin(RecordAdmin):
    list_display = ["payment_number", "customer", "status", "amount", "currency", "payment_date"]
    list_filter = ["site", "status"]


@admin.register(m.TimsGlEntry)
class TimsGlEntryAdmin(RecordAdmin):
    list_display = ["entry_number", "entry_date", "source", "status", "total_debit", "memo"]
    list_filter = ["site", "source", "status"]


@admin.register(m.TimsWebhookSubscription)
class TimsWebhookSubscriptionAdmin(RecordAdmin):
    list_display = ["id", "client", "url", "status", "disabled_reason", "last_delivery_status", "deleted_at"]
    list_filter = ["site", "status"]
    exclude = ["secret", "previous_secret"]


@admin.register(m.TimsWebhookEvent)
class TimsWebhookEventAdmin(admin.ModelAdmin):
    list_display = ["event_id", "event_type", "subscription", "status", "attempts", "next_attempt_at", "last_response_status"]
    list_filter = ["status", "event_type"]
    actions = ["deliver_now"]

    @admin.action(description="Deliver every due TIMS event now", permissions=["change"])
    def deliver_now(self, request, queryset):
        report = deliver_pending()
        self.message_user(request, f"{report.sent} sent, {report.failed} failed, {report.gave_up} given up.", messages.INFO)
