from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from integrations.models import Connection, CredentialsUnreadable, System
from integrations.services.connections import connection_credentials_update


class ConnectionForm(forms.ModelForm):
    """Secrets are write-only: typed in, encrypted on save, never rendered back."""

    base_url = forms.URLField(
        required=False, assume_scheme="https",
        help_text="API root; empty uses the system's default for the environment.",
    )
    client_id = forms.CharField(
        required=False, help_text="OAuth client id (or API user). Leave empty to keep the stored one."
    )
    client_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="OAuth client secret (or API password). Never shown; leave empty to keep the stored one.",
    )

    class Meta:
        model = Connection
        fields = ["name", "system", "environment", "base_url", "auth_kind", "tenant_id", "tenant_name", "ca_bundle", "status", "status_reason"]


def _subscribed(connection: Connection) -> bool:
    try:
        return bool(connection.get_credentials().get("webhook_subscription_id"))
    except CredentialsUnreadable:
        return False


@admin.register(Connection)
class ConnectionAdmin(SimpleHistoryAdmin):
    form = ConnectionForm
    list_display = ["name", "system", "environment", "status", "tenant_name", "credentials_stored", "rate_budget", "updated_at"]
    list_filter = ["system", "environment", "status", "auth_kind"]
    search_fields = ["name", "tenant_id", "tenant_name"]
    date_hierarchy = "created_at"
    readonly_fields = ["credentials_stored", "token_expires_at", "rate_minute_remaining", "rate_day_remaining",
                       "rate_updated_at", "connected_at", "connected_by", "created_at", "updated_at"]
    history_list_display = ["status"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        fieldsets = [
            (None, {"fields": ["name", "system", "environment", "base_url", "auth_kind", "tenant_id", "tenant_name"]}),
            ("TLS", {"fields": ["ca_bundle"], "classes": ["collapse"]}),
            ("Status", {"fields": ["status", "status_reason", "connected_at", "connected_by", "token_expires_at"]}),
            ("Rate budget", {"fields": ["rate_minute_remaining", "rate_day_remaining", "rate_updated_at"]}),
        ]
        if self.has_change_permission(request, obj):
            fieldsets.insert(1, ("Credentials", {"fields": ["credentials_stored", "client_id", "client_secret"]}))
        else:
            fieldsets.insert(1, ("Credentials", {"fields": ["credentials_stored"]}))
        return fieldsets

    @admin.display(description="Credentials", boolean=True)
    def credentials_stored(self, obj: Connection) -> bool:
        return obj.has_credentials

    @admin.display(description="Calls left (min / day)")
    def rate_budget(self, obj: Connection) -> str:
        if obj.rate_minute_remaining is None and obj.rate_day_remaining is None:
            return "\u2014"
        return f"{obj.rate_minute_remaining if obj.rate_minute_remaining is not None else '?'} / {obj.rate_day_remaining if obj.rate_day_remaining is not None else '?'}"

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None):  # type: ignore[no-untyped-def]
        from integrations.oauth import supports_consent

        connection = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "can_connect": bool(connection and supports_consent(connection) and self.has_change_permission(request, connection)),
            "can_subscribe": bool(connection and connection.system == System.TIMS and connection.has_credentials
                                  and self.has_change_permission(request, connection)),
            "subscribed": bool(connection and _subscribed(connection)),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: Connection, form: ConnectionForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        typed = {key: form.cleaned_data.get(key) for key in ("client_id", "client_secret")}
        typed = {key: value for key, value in typed.items() if value}
        if typed:
            connection_credentials_update(connection=obj, values=typed, actor=request.user)
