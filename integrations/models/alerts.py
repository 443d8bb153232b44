from __future__ import annotations

from urllib.parse import urlsplit

from django.core.validators import MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from integrations import crypto
from integrations.fields import EncryptedJSONField


class AlertKind(models.TextChoices):
    RUN_FAILED = "run_failed", "A run failed"
    NEEDS_REAUTH = "needs_reauth", "A connection needs re-authorisation"
    RETRIES_EXHAUSTED = "retries_exhausted", "A retry schedule ran out"
    EXCEPTION_THRESHOLD = "exception_threshold", "Open exceptions passed the threshold"


class Alert(models.Model):
    """One condition people were told about. While it is open, raising it again only counts
    (an outage sends one alert, not a thousand); it closes when the condition clears."""

    kind = models.CharField(max_length=30, choices=AlertKind.choices)
    dedup_key = models.CharField(max_length=200)
    subject = models.CharField(max_length=200)
    message = models.TextField()
    flow = models.ForeignKey("integrations.Flow", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    connection = models.ForeignKey(
        "integrations.Connection", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    occurrences = models.PositiveIntegerField(default=1)
    first_raised_at = models.DateTimeField(auto_now_add=True)
    last_raised_at = models.DateTimeField(auto_now=True)
    notified = models.JSONField(default=list, blank=True, help_text="Channels the alert went to.")
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedup_key"], condition=models.Q(cleared_at__isnull=True), name="one_open_alert_per_condition"
            )
        ]

    def __str__(self) -> str:
        return self.subject


class FlowAlertSettings(models.Model):
    """Who hears about one flow's troubles, and which troubles they hear about.

    Without a row (or with an empty channel) a flow's alerts go to the defaults
    (``ALERT_EMAILS``, ``ALERT_WEBHOOK_URL``). The webhook URL is a secret (it lets anyone post
    to the channel): it is stored encrypted like credentials, written only, and shown by its
    host and last characters (``webhook_hint``)."""

    flow = models.OneToOneField("integrations.Flow", on_delete=models.CASCADE, related_name="alert_settings")
    emails = models.TextField(
        blank=True, help_text="Addresses to email, one per line or separated by commas; empty uses ALERT_EMAILS."
    )
    webhook = EncryptedJSONField(help_text="The Slack-compatible webhook URL, encrypted.")
    webhook_hint = models.CharField(max_length=120, blank=True, editable=False)
    on_run_failed = models.BooleanField("a run fails", default=True)
    on_needs_reauth = models.BooleanField("a connection needs re-authorisation", default=True)
    on_retries_exhausted = models.BooleanField("a retry schedule runs out", default=True)
    on_exception_threshold = models.BooleanField("open exceptions pass the threshold", default=True)
    exception_threshold = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Open exceptions of this flow that raise an alert; empty uses ALERT_EXCEPTION_THRESHOLD.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["webhook"])

    class Meta:
        verbose_name = "flow alert settings"
        verbose_name_plural = "flow alert settings"
        ordering = ["flow__name"]

    def __str__(self) -> str:
        return f"Alerts of {self.flow}"

    def kind_enabled(self, kind: str) -> bool:
        return bool(getattr(self, f"on_{kind}", True))

    @property
    def email_list(self) -> list[str]:
        return [part.strip() for part in self.emails.replace("\n", ",").split(",") if part.strip()]

    def get_webhook_url(self) -> str:
        """The decrypted URL ('' when none); raises ``crypto.InvalidToken`` on a key mismatch."""
        value = self.webhook
        if not value:
            return ""
        if isinstance(value, dict):
            return str(value.get("url", ""))
        return str(crypto.unseal(value.token).get("url", ""))

    def set_webhook_url(self, url: str) -> None:
        self.webhook = {"url": url} if url else None
        self.webhook_hint = webhook_hint(url)


def webhook_hint(url: str) -> str:
    """What may be shown of a webhook URL: its host and last four characters."""
    if not url:
        return ""
    host = urlsplit(url).hostname or "?"
    return f"{host}/\u2026{url.rstrip('/')[-4:]}"
