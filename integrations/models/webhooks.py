from __future__ import annotations

from django.db import models

from integrations.models.connections import Connection, System


class WebhookStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    DUPLICATE = "duplicate", "Duplicate (already processed)"
    REJECTED = "rejected", "Rejected (bad signature)"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """The webhook inbox: stored before it is answered, processed later by a task."""

    system = models.CharField(max_length=20, choices=System.choices)
    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.PROTECT, related_name="webhook_deliveries"
    )
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    raw_body = models.BinaryField()
    headers = models.JSONField(default=dict, blank=True)
    signature_valid = models.BooleanField()
    event_ids = models.JSONField(default=list, blank=True)
    dedup_key = models.CharField(
        max_length=64, null=True, blank=True, help_text="SHA-256 of the sorted event ids; one delivery per key."
    )
    status = models.CharField(max_length=20, choices=WebhookStatus.choices, default=WebhookStatus.RECEIVED)
    attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["system", "dedup_key"], name="one_delivery_per_event_set"),
        ]
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self) -> str:
        return f"{self.get_system_display()} webhook {self.pk}"
