from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from integrations.models.connections import Connection
from integrations.models.mappings import MappingSet


class FlowTrigger(models.TextChoices):
    WEBHOOK = "webhook", "Webhook (with polling as the fallback)"
    SCHEDULE = "schedule", "Schedule"
    MANUAL = "manual", "Manual only"


class ConflictPolicy(models.TextChoices):
    SOURCE_WINS = "source_wins", "The source always wins (one-way)"
    FIELD_OWNERSHIP = "field_ownership", "Per-field ownership"
    LAST_WRITER_WINS = "last_writer_wins", "Last writer wins (remote updated time)"


def default_retry_schedule() -> list[int]:
    # 1 min, 5 min, 15 min, 1 h, 3 h; then a person is alerted.
    return [60, 300, 900, 3600, 10800]


class Flow(models.Model):
    """Source connection + entity → target connection + entity, with its trigger and cursor."""

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=150)
    description = models.TextField(blank=True)
    source_connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="outgoing_flows")
    source_entity = models.CharField(max_length=50)
    target_connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="incoming_flows")
    target_entity = models.CharField(max_length=50)
    mapping_set = models.ForeignKey(
        MappingSet, null=True, blank=True, on_delete=models.PROTECT, related_name="flows"
    )
    trigger = models.CharField(max_length=20, choices=FlowTrigger.choices, default=FlowTrigger.SCHEDULE)
    interval_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Polling interval; used by schedule and webhook triggers."
    )
    cron = models.CharField(max_length=100, blank=True, help_text="Cron expression; wins over the interval.")
    enabled = models.BooleanField(default=False)
    paused_reason = models.CharField(max_length=300, blank=True)
    batch_size = models.PositiveIntegerField(
        default=50, validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    conflict_policy = models.CharField(
        max_length=20, choices=ConflictPolicy.choices, default=ConflictPolicy.SOURCE_WINS
    )
    field_ownership = models.JSONField(
        default=dict, blank=True, help_text='Per-field owner for bidirectional flows: {"Name": "source"}.'
    )
    retry_schedule = models.JSONField(
        default=default_retry_schedule, help_text="Seconds between automatic retries of transient failures."
    )
    cursor = models.JSONField(
        default=dict, blank=True, help_text="Stream state; advanced only after its page is committed."
    )
    rerun_requested = models.BooleanField(
        default=False, editable=False, help_text="A run was asked for while one was active; it follows."
    )
    cursor_lookback_seconds = models.PositiveIntegerField(
        default=300, help_text="Overlap re-read on each run so clock skew and late commits lose nothing."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["rerun_requested"])

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(batch_size__gte=1, batch_size__lte=1000), name="flow_batch_size_in_range"
            ),
            models.CheckConstraint(
                condition=~models.Q(source_connection=models.F("target_connection")),
                name="flow_connects_two_connections",
                violation_error_message="A flow connects two different connections.",
            ),
        ]
        indexes = [models.Index(fields=["enabled", "trigger"])]

    def __str__(self) -> str:
        return self.name
