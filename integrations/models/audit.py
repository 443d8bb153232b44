from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditSource(models.TextChoices):
    UI = "ui", "Portal"
    API = "api", "API"
    WORKER = "worker", "Worker"
    WEBHOOK = "webhook", "Webhook"
    CLI = "cli", "Command line"


class AppendOnlyError(Exception):
    """Audit events are never updated or deleted."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):  # type: ignore[no-untyped-def]
        raise AppendOnlyError("Audit events are append-only: update() is refused.")

    def delete(self):  # type: ignore[no-untyped-def]
        raise AppendOnlyError("Audit events are append-only: delete() is refused.")

    def bulk_update(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise AppendOnlyError("Audit events are append-only: bulk_update() is refused.")

    def update_or_create(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise AppendOnlyError("Audit events are append-only: update_or_create() is refused.")


class AuditEvent(models.Model):
    """What happened to one record, or what a person did: append-only.

    References to users, runs, links and API calls are kept without database foreign-key
    constraints: deleting a user must neither delete nor rewrite the trail.
    On PostgreSQL a trigger refuses UPDATE and DELETE (migration 0002).

    One event is written per record a run moves, so every index costs each write: the actor,
    run and record link are indexed only by the (reference, created_at) indexes that lead with
    them, and the action by a plain index (found by equality only).
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
        help_text="Empty when the system acted.",
    )
    actor_label = models.CharField(max_length=150, blank=True, help_text="The username at the time.")
    source = models.CharField(max_length=20, choices=AuditSource.choices)
    action = models.CharField(max_length=80)
    object_system = models.CharField(max_length=20, blank=True)
    object_type = models.CharField(max_length=50, blank=True)
    object_id = models.CharField(max_length=100, blank=True)
    object_ref = models.CharField(max_length=200, blank=True)
    flow = models.ForeignKey(
        "integrations.Flow", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    run = models.ForeignKey(
        "integrations.SyncRun", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        db_index=False, related_name="+",
    )
    record_link = models.ForeignKey(
        "integrations.RecordLink", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        db_index=False, related_name="+",
    )
    api_call = models.ForeignKey(
        "integrations.ApiCall", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="Details the action's description uses.")
    correlation_id = models.UUIDField(default=uuid.uuid4, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = "created_at"
        indexes = [
            models.Index(fields=["object_system", "object_type", "object_id", "created_at"]),
            models.Index(fields=["run", "created_at"]),
            models.Index(fields=["actor", "created_at"]),
            models.Index(fields=["record_link", "created_at"]),
            models.Index(fields=["action"], name="audit_action_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_ref or self.object_id}".strip()

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not self._state.adding:
            raise AppendOnlyError("Audit events are append-only: an existing event cannot be saved again.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise AppendOnlyError("Audit events are append-only: delete() is refused.")

    @property
    def description(self) -> str:
        from integrations.log_actions import log_actions

        return log_actions.describe(self)
