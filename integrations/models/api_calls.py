from __future__ import annotations

from django.db import models

from integrations.models.connections import Connection


class ApiCall(models.Model):
    """One attempt of one outbound call (Saleor's delivery/attempt split): never a secret,
    never a query string with a token in it."""

    connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="api_calls")
    run = models.ForeignKey(
        "integrations.SyncRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="api_calls"
    )
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500, help_text="Path and safe query parameters; no secrets.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty when no answer came.")
    duration_ms = models.PositiveIntegerField(default=0)
    attempt = models.PositiveSmallIntegerField(default=1)
    idempotency_key = models.CharField(max_length=100, blank=True)
    correlation_id = models.UUIDField(null=True, blank=True, db_index=True)
    request_id = models.CharField(max_length=100, blank=True, help_text="The remote's request id, if any.")
    error_class = models.CharField(max_length=20, blank=True)
    error = models.CharField(max_length=500, blank=True)
    rate_minute_remaining = models.IntegerField(null=True, blank=True)
    rate_day_remaining = models.IntegerField(null=True, blank=True)
    retry_after_seconds = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = "API call"
        indexes = [
            models.Index(fields=["connection", "-started_at"]),
            models.Index(fields=["run", "started_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} \u2192 {self.status_code or 'no answer'}"
