"""Sandbox admin: apps, organisations and their limits, fault settings, the webhook outbox."""

from django.contrib import admin, messages

from sandbox.models import (
    FaultSetting,
    XeroAccount,
    XeroApp,
    XeroConnection,
    XeroContact,
    XeroInvoice,
    XeroItem,
    XeroLineItem,
    XeroPayment,
    XeroTenant,
    XeroWebhookEvent,
)
from sandbox.xero.services import xero_tenant_seed_chart
from sandbox.xero.webhooks import intent_to_receive


@admin.register(XeroTenant)
class XeroTenantAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant_id", "base_currency", "minute_limit", "day_limit", "concurrent_limit"]
    search_fields = ["name", "tenant_id"]
    actions = ["seed_chart"]

    @admin.action(description="Add the demo chart of accounts, VAT rates and currencies", permissions=["change"])
    def seed_chart(self, request, queryset):
        for tenant in queryset:
            xero_tenant_seed_chart(tenant=tenant)
        self.message_user(request, f"Seeded {queryset.count()} organisation(s).", messages.SUCCESS)
    fieldsets = [
        (None, {"fields": ["name", "tenant_id", "tenant_type", "short_code", "country_code", "base_currency", "version"]}),
        ("Limits (empty or 0 = unlimited)", {"fields": ["minute_limit", "day_limit", "concurrent_limit", "limit_window_offset_seconds"]}),
        ("Numbering", {"fields": ["invoice_number_prefix", "next_invoice_number", "credit_note_number_prefix", "next_credit_note_number"]}),
    ]


@admin.register(XeroApp)
class XeroAppAdmin(admin.ModelAdmin):
    list_display = ["name", "app_type", "client_id", "webhook_status", "app_minute_limit"]
    readonly_fields = ["webhook_status"]
    actions = ["run_intent_to_receive"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "webhook_url":
            kwargs["assume_scheme"] = "https"  # Xero's receivers must be HTTPS (api-notes §3)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if "webhook_url" in form.changed_data:
            # A new URL must pass Intent to Receive again (api-notes §3).
            obj.webhook_status = XeroApp.WebhookStatus.INTENT_TO_RECEIVE_REQUIRED if obj.webhook_url else XeroApp.WebhookStatus.NONE
        super().save_model(request, obj, form, change)

    @admin.action(description="Run Intent to Receive against the webhook URL", permissions=["change"])
    def run_intent_to_receive(self, request, queryset):
        for app in queryset.exclude(webhook_url=""):
            result = intent_to_receive(app)
            level = messages.SUCCESS if result.ok else messages.WARNING
            self.message_user(request, f"{app.name}: {'OK' if result.ok else 'failed'} {result.answers}", level)


@admin.register(XeroConnection)
class XeroConnectionAdmin(admin.ModelAdmin):
    list_display = ["app", "tenant", "user_email", "auth_event_id", "updated_at"]
    list_filter = ["app"]


@admin.register(FaultSetting)
class FaultSettingAdmin(admin.ModelAdmin):
    list_display = ["system", "tenant_key", "error_rate", "rate_limit_rate", "slow_rate", "slow_ms", "drop_rate", "seed", "draws"]
    list_filter = ["system"]


@admin.register(XeroWebhookEvent)
class XeroWebhookEventAdmin(admin.ModelAdmin):
    list_display = ["app", "sequence", "event_category", "event_type", "resource_id", "status", "attempts", "next_attempt_at"]
    list_filter = ["status", "event_category"]


class TenantDataAdmin(admin.ModelAdmin):
    """The organisations' documents, to look at what a flow did (edit through the API)."""

    list_filter = ["tenant"]

    def has_add_permission(self, request):
        return False


@admin.register(XeroContact)
class XeroContactAdmin(TenantDataAdmin):
    list_display = ["name", "contact_number", "contact_status", "tenant", "updated_at"]
    search_fields = ["name", "contact_number", "email_address"]


class XeroLineItemInline(admin.TabularInline):
    model = XeroLineItem
    fk_name = "invoice"
    extra = 0
    fields = ["description", "quantity", "unit_amount", "account_code", "tax_type", "tax_amount", "line_amount"]


@admin.register(XeroInvoice)
class XeroInvoiceAdmin(TenantDataAdmin):
    list_display = ["invoice_number", "type", "status", "contact", "total", "amount_due", "tenant", "updated_at"]
    list_filter = ["tenant", "type", "status"]
    search_fields = ["invoice_number", "reference"]
    inlines = [XeroLineItemInline]


@admin.register(XeroPayment)
class XeroPaymentAdmin(TenantDataAdmin):
    list_display = ["payment_id", "invoice", "amount", "date", "status", "tenant"]


@admin.register(XeroItem)
class XeroItemAdmin(TenantDataAdmin):
    list_display = ["code", "name", "sales_unit_price", "tenant"]


@admin.register(XeroAccount)
class XeroAccountAdmin(TenantDataAdmin):
    list_display = ["code", "name", "type", "status", "system_account", "tenant"]
    search_fields = ["code", "name"]


import sandbox.tims.admin  # noqa: E402, F401  (TIMS sandbox admin registrations)
