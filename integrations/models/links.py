from __future__ import annotations

from django.db import models

from integrations.models.connections import Connection


class LinkState(models.TextChoices):
    PENDING = "pending", "Pending (create about to be sent)"
    LINKED = "linked", "Linked"
    UNKNOWN_OUTCOME = "unknown_outcome", "Unknown outcome (to verify)"


class RecordLink(models.Model):
    """The binding of one source record to one target record: the trace key of everything.

    A pending link is committed before a remote create and its target id right after, so a
    crash in between is settled by looking the record up, never by creating it twice.
    """

    # No index of their own: each unique constraint below leads with one of them.
    source_connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="+", db_index=False)
    source_type = models.CharField(max_length=50)
    source_id = models.CharField(max_length=100)
    source_ref = models.CharField(max_length=200, blank=True, help_text="Human reference, e.g. SO-1001.")
    target_connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="+", db_index=False)
    target_type = models.CharField(max_length=50)
    # NULL until the remote create answers; NULLs never collide in the unique constraint.
    target_id = models.CharField(max_length=100, null=True, blank=True)
    target_ref = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=20, choices=LinkState.choices, default=LinkState.PENDING)
    payload_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the last synced payload.")
    source_updated_at = models.DateTimeField(null=True, blank=True)
    target_updated_at = models.DateTimeField(null=True, blank=True)
    remote_version = models.CharField(max_length=100, blank=True)
    last_run = models.ForeignKey(
        "integrations.SyncRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_connection", "source_type", "source_id", "target_connection", "target_type"],
                name="one_link_per_source_record",
                violation_error_message="This source record is already linked.",
            ),
            models.UniqueConstraint(
                fields=["target_connection", "target_type", "target_id", "source_connection", "source_type"],
                name="one_link_per_target_record",
                violation_error_message="This target record is already linked.",
            ),
            models.CheckConstraint(
                condition=~models.Q(state=LinkState.LINKED) | models.Q(target_id__isnull=False),
                name="linked_record_has_target_id",
            ),
        ]
        indexes = [
            models.Index(fields=["source_ref"]),
            models.Index(fields=["target_ref"]),
            models.Index(fields=["state"], condition=~models.Q(state=LinkState.LINKED), name="link_unsettled_idx"),
        ]

    def __str__(self) -> str:
        source = self.source_ref or self.source_id
        target = self.target_ref or self.target_id or "?"
        return f"{self.source_type} {source} \u2192 {self.target_type} {target}"
