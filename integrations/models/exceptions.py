from __future__ import annotations

from django.conf import settings
from django.db import models

from integrations.models.flows import Flow
from integrations.models.links import RecordLink
from integrations.models.runs import SyncRun


class ExceptionStage(models.TextChoices):
    EXTRACT = "extract", "Extract"
    TRANSFORM = "transform", "Transform"
    VALIDATE = "validate", "Validate"
    LOAD = "load", "Load"


class ErrorClass(models.TextChoices):
    VALIDATION = "validation", "Validation"
    MAPPING = "mapping", "Mapping"
    AUTH = "auth", "Authorisation"
    RATE_LIMITED = "rate_limited", "Rate limited"
    TRANSIENT = "transient", "Transient"
    CONFLICT = "conflict", "Conflict"
    NOT_FOUND = "not_found", "Not found"
    DUPLICATE = "duplicate", "Possible duplicate"
    ANOMALY = "anomaly", "Anomaly"


class ExceptionStatus(models.TextChoices):
    OPEN = "open", "Open"
    RETRYING = "retrying", "Retrying"
    RESOLVED = "resolved", "Resolved"
    AUTO_RESOLVED = "auto_resolved", "Resolved by a later success"
    IGNORED = "ignored", "Ignored"


OPEN_EXCEPTION_STATUSES = (ExceptionStatus.OPEN, ExceptionStatus.RETRYING)
CLOSED_EXCEPTION_STATUSES = (ExceptionStatus.RESOLVED, ExceptionStatus.AUTO_RESOLVED, ExceptionStatus.IGNORED)


class SyncException(models.Model):
    """One record that did not sync, for a person to review. Only the newest open exception
    per record exists (the database refuses a second); a later success auto-resolves it."""

    flow = models.ForeignKey(Flow, on_delete=models.PROTECT, related_name="exceptions")
    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="exceptions")
    record_link = models.ForeignKey(
        RecordLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="exceptions"
    )
    record_type = models.CharField(max_length=50)
    record_id = models.CharField(max_length=100)
    record_ref = models.CharField(max_length=200, blank=True)
    stage = models.CharField(max_length=20, choices=ExceptionStage.choices)
    error_class = models.CharField("class", max_length=20, choices=ErrorClass.choices)
    code = models.CharField(max_length=80, help_text="Stable machine code, e.g. xero.validation.account_code.")
    message = models.TextField(help_text="What went wrong, in words a finance person understands.")
    source_payload = models.JSONField(default=dict, blank=True)
    transformed_payload = models.JSONField(null=True, blank=True)
    edited_payload = models.JSONField(null=True, blank=True, help_text="A person's edit, retried instead.")
    remote_response = models.JSONField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=1)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=ExceptionStatus.choices, default=ExceptionStatus.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_exceptions"
    )
    resolution_note = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "sync exception"
        constraints = [
            models.UniqueConstraint(
                fields=["flow", "record_type", "record_id"],
                condition=models.Q(status__in=OPEN_EXCEPTION_STATUSES),
                name="one_open_exception_per_record",
                violation_error_message="This record already has an open exception.",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"]),
            models.Index(fields=["flow", "status", "-created_at"]),
            models.Index(fields=["code", "status"]),
            models.Index(fields=["assignee", "status"]),
            models.Index(fields=["record_type", "record_id"]),
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status=ExceptionStatus.RETRYING),
                name="exception_retry_due_idx",
            ),
            # The review queue pages through open (or closed) exceptions newest first, by
            # itself or filtered by flow, code or assignee: partial indexes in exactly the
            # queue's order (created_at, id) let PostgreSQL read a page without sorting the
            # queue, at a million rows as at ten.
            *[
                models.Index(*prefix, models.F("created_at").desc(), models.F("id").desc(),
                             condition=models.Q(status__in=statuses), name=f"exc_{queue}_{label}_idx")
                for queue, statuses, prefixes in (
                    ("open", OPEN_EXCEPTION_STATUSES, (("age", ()), ("flow", ("flow",)), ("flow_code", ("flow", "code")),
                                                       ("code", ("code",)), ("assignee", ("assignee",)))),
                    ("closed", CLOSED_EXCEPTION_STATUSES, (("age", ()), ("flow", ("flow",)), ("code", ("code",)))),
                )
                for label, prefix in prefixes
            ],
        ]

    def __str__(self) -> str:
        return f"{self.record_type} {self.record_ref or self.record_id}: {self.code}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_EXCEPTION_STATUSES


class OpenExceptionManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(status__in=OPEN_EXCEPTION_STATUSES)


class ClosedExceptionManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(status__in=CLOSED_EXCEPTION_STATUSES)


class OpenException(SyncException):
    objects = OpenExceptionManager()

    class Meta:
        proxy = True
        verbose_name = "open exception"


class ResolvedException(SyncException):
    objects = ClosedExceptionManager()

    class Meta:
        proxy = True
        verbose_name = "resolved exception"
