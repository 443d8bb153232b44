"""Admin of the configuration people edit: flows, mapping sets, value maps, rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.validators import validate_email
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from integrations.models import FieldMapping, Flow, FlowAlertSettings, MappingSet, Rule, ValueMap, ValueMapEntry


@admin.register(Flow)
class FlowAdmin(SimpleHistoryAdmin):
    list_display = ["name", "slug", "source_connection", "source_entity", "target_connection", "target_entity",
                    "trigger", "enabled", "last_run"]
    list_filter = ["enabled", "trigger", "conflict_policy", "source_connection", "target_connection"]
    search_fields = ["name", "slug", "source_entity", "target_entity"]
    date_hierarchy = "created_at"
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["mapping_set"]
    list_select_related = ["source_connection", "target_connection"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "enabled", "paused_reason", "alerts"]}),
        ("Source and target", {"fields": ["source_connection", "source_entity", "target_connection", "target_entity", "mapping_set"]}),
        ("Trigger", {"fields": ["trigger", "interval_minutes", "cron", "batch_size"]}),
        ("Conflicts and retries", {"fields": ["conflict_policy", "field_ownership", "retry_schedule"]}),
        ("Stream state", {"fields": ["cursor", "cursor_lookback_seconds"], "classes": ["collapse"]}),
    ]
    readonly_fields = ["alerts"]
    actions = ["run_now", "pause", "resume"]

    @admin.display(description="Last run")
    def last_run(self, flow: Flow) -> str:
        run = flow.runs.order_by("-created_at").first()
        if run is None:
            return "\u2014"
        return format_html('<a href="{}">#{} {}</a>', reverse("integrations:monitor_run", args=[run.pk]), run.pk,
                           run.get_status_display())

    @admin.display(description="Alerts")
    def alerts(self, flow: Flow) -> str:
        if flow.pk is None:
            return "The defaults (ALERT_EMAILS, ALERT_WEBHOOK_URL); set the flow's own once it is saved."
        settings_row = FlowAlertSettings.objects.filter(flow=flow).only("pk").first()
        if settings_row is None:
            return format_html('The defaults. <a href="{}?flow={}">Set this flow\'s own</a>',
                               reverse("admin:integrations_flowalertsettings_add"), flow.pk)
        return format_html('<a href="{}">This flow\'s own settings</a>',
                           reverse("admin:integrations_flowalertsettings_change", args=[settings_row.pk]))

    def get_urls(self) -> list[URLPattern]:
        dry_run = [path("<path:object_id>/dry-run/", self.admin_site.admin_view(self.dry_run_view),
                        name="integrations_flow_dry_run")]
        return dry_run + super().get_urls()

    def dry_run_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        from integrations.views.dry_run import flow_dry_run_view

        return flow_dry_run_view(request, model_admin=self, object_id=object_id)

    @admin.action(description="Run now", permissions=["change"])
    def run_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        from integrations.services.audit import operation
        from integrations.services.flows import flow_run_now

        with operation():
            queued = [flow.name for flow in queryset if flow_run_now(flow=flow, actor=request.user)]
        busy = queryset.count() - len(queued)
        if queued:
            self.message_user(request, f"Queued a run of {', '.join(queued)}.", messages.SUCCESS)
        if busy:
            self.message_user(request, f"{busy} flow(s) already had a run queued or running.", messages.WARNING)

    @admin.action(description="Pause", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet) -> None:
        from integrations.services.audit import operation
        from integrations.services.flows import flow_pause

        with operation():
            for flow in queryset.filter(enabled=True):
                flow_pause(flow=flow, actor=request.user)
        self.message_user(request, "Paused; no new runs start until resumed.", messages.SUCCESS)

    @admin.action(description="Resume", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet) -> None:
        from integrations.services.audit import operation
        from integrations.services.flows import flow_resume

        with operation():
            for flow in queryset.filter(enabled=False):
                flow_resume(flow=flow, actor=request.user)
        self.message_user(request, "Resumed.", messages.SUCCESS)


class FieldMappingInline(admin.TabularInline):
    model = FieldMapping
    extra = 0
    fields = ["position", "target_field", "source_path", "expression", "value_map", "conversion", "default", "required"]
    autocomplete_fields = ["value_map"]


class RuleInline(admin.StackedInline):
    model = Rule
    extra = 0
    fields = [("position", "name", "enabled"), "condition", ("action", "target_field"), "value_expression", "reason"]


@admin.register(MappingSet)
class MappingSetAdmin(SimpleHistoryAdmin):
    list_display = ["name", "source_system", "source_entity", "target_system", "target_entity", "updated_at"]
    list_filter = ["source_system", "target_system", "target_entity"]
    search_fields = ["name", "description", "source_entity", "target_entity"]
    date_hierarchy = "updated_at"
    inlines = [FieldMappingInline, RuleInline]


@admin.register(FieldMapping)
class FieldMappingAdmin(SimpleHistoryAdmin):
    list_display = ["target_field", "mapping_set", "source_path", "expression", "value_map", "conversion", "required"]
    list_filter = ["mapping_set", "conversion", "required"]
    search_fields = ["target_field", "source_path", "expression"]
    list_select_related = ["mapping_set", "value_map"]
    autocomplete_fields = ["mapping_set", "value_map"]
    date_hierarchy = "updated_at"


class ValueMapEntryInline(admin.TabularInline):
    model = ValueMapEntry
    extra = 1


@admin.register(ValueMap)
class ValueMapAdmin(SimpleHistoryAdmin):
    list_display = ["name", "on_missing", "default_value", "entry_count", "updated_at"]
    list_filter = ["on_missing"]
    search_fields = ["name", "description", "entries__source_value", "entries__target_value"]
    date_hierarchy = "updated_at"
    inlines = [ValueMapEntryInline]

    @admin.display(description="Entries")
    def entry_count(self, obj: ValueMap) -> int:
        return obj.entries.count()


@admin.register(ValueMapEntry)
class ValueMapEntryAdmin(SimpleHistoryAdmin):
    list_display = ["source_value", "target_value", "value_map"]
    list_filter = ["value_map"]
    search_fields = ["source_value", "target_value"]
    list_select_related = ["value_map"]
    date_hierarchy = "updated_at"


@admin.register(Rule)
class RuleAdmin(SimpleHistoryAdmin):
    list_display = ["name", "mapping_set", "action", "condition", "enabled", "position"]
    list_filter = ["action", "enabled", "mapping_set"]
    search_fields = ["name", "condition", "reason"]
    list_select_related = ["mapping_set"]
    date_hierarchy = "updated_at"
    autocomplete_fields = ["mapping_set"]


ALERT_SETTINGS_FIELDS = ("emails", "on_run_failed", "on_needs_reauth", "on_retries_exhausted", "on_exception_threshold",
                         "exception_threshold")


class FlowAlertSettingsForm(forms.ModelForm):
    """The webhook URL is a secret (whoever has it can post to the channel): write-only, like a
    connection's client secret; the page shows only its hint."""

    webhook_url = forms.URLField(
        required=False, assume_scheme="https", max_length=2000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "size": 60}),
        help_text="A Slack-compatible incoming webhook. Never shown again; leave empty to keep the stored one.",
    )
    clear_webhook = forms.BooleanField(required=False, label="Remove the stored webhook")

    class Meta:
        model = FlowAlertSettings
        fields = ["flow", *ALERT_SETTINGS_FIELDS]
        widgets = {"emails": forms.Textarea(attrs={"rows": 3, "cols": 60})}

    def clean_emails(self) -> str:
        value = self.cleaned_data["emails"]
        for address in [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]:
            try:
                validate_email(address)
            except forms.ValidationError:
                raise forms.ValidationError(f"\u201c{address}\u201d is not an email address.") from None
        return value


@admin.register(FlowAlertSettings)
class FlowAlertSettingsAdmin(SimpleHistoryAdmin):
    """Per flow: who is alerted, on which webhook, for which conditions, from how many open
    exceptions. Flows without settings use ALERT_EMAILS, ALERT_WEBHOOK_URL and
    ALERT_EXCEPTION_THRESHOLD."""

    form = FlowAlertSettingsForm
    list_display = ["flow", "emails", "webhook_hint", "on_run_failed", "on_needs_reauth", "on_retries_exhausted",
                    "on_exception_threshold", "exception_threshold", "updated_at"]
    list_filter = ["on_run_failed", "on_needs_reauth", "on_retries_exhausted", "on_exception_threshold"]
    search_fields = ["flow__name", "flow__slug", "emails"]
    date_hierarchy = "updated_at"
    list_select_related = ["flow"]
    readonly_fields = ["webhook_hint"]
    history_list_display = ["exception_threshold"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        channels = ["emails", "webhook_hint"]
        if self.has_change_permission(request, obj):
            channels += ["webhook_url", "clear_webhook"]
        return [
            (None, {"fields": ["flow"]}),
            ("Channels", {"fields": channels}),
            ("Alert when", {"fields": ["on_run_failed", "on_needs_reauth", "on_retries_exhausted",
                                       "on_exception_threshold", "exception_threshold"]}),
        ]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        if request.GET.get("flow", "").isdigit():
            initial["flow"] = request.GET["flow"]
        return initial

    @admin.display(description="Webhook")
    def webhook_hint(self, obj: FlowAlertSettings) -> str:
        return obj.webhook_hint or "\u2014 (the default)"

    def save_model(self, request: HttpRequest, obj: FlowAlertSettings, form: FlowAlertSettingsForm, change: bool) -> None:
        from integrations.services.alerts import flow_alert_settings_update

        values = {name: form.cleaned_data[name] for name in ALERT_SETTINGS_FIELDS if name in form.cleaned_data}
        saved = flow_alert_settings_update(
            flow=form.cleaned_data["flow"], actor=request.user, webhook_url=form.cleaned_data.get("webhook_url") or None,
            clear_webhook=form.cleaned_data.get("clear_webhook", False), **values,
        )
        obj.pk = saved.pk
