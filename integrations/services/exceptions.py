"""Writes to the review queue; each writes its audit events in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from integrations.models import AuditSource, SyncException
from integrations.services.audit import audit_event_record, operation


def exception_assign(
    *, exceptions: Iterable[SyncException], assignee: Any, actor: Any, source: str = AuditSource.UI
) -> int:
    """Assign exceptions to a person (or to nobody); one correlation id for the whole click."""
    count = 0
    with transaction.atomic(), operation():
        for exception in exceptions:
            previous = SyncException.objects.filter(pk=exception.pk).values_list("assignee_id", flat=True).first()
            before = {"assignee": previous}
            SyncException.objects.filter(pk=exception.pk).update(assignee=assignee)
            exception.assignee = assignee
            audit_event_record(
                action="exception.assigned",
                source=source,
                actor=actor,
                object_system=exception.flow.source_connection.system,
                object_type=exception.record_type,
                object_id=exception.record_id,
                object_ref=exception.record_ref,
                before=before,
                after={"assignee": assignee.pk if assignee else None},
                data={"assignee": assignee.get_username() if assignee else "nobody"},
                flow=exception.flow,
                record_link_id=exception.record_link_id,
            )
            count += 1
    return count


# --- A person's actions on the review queue ---------------------------------------------------
# Each action takes the selected exceptions (a list or a queryset, "select all" included), acts
# only on those still open, and writes one audit event per record under one correlation id for
# the whole click. Rows are locked while they change so the engine's retry run, which writes
# the same rows, never interleaves with a person's click.

ACTION_CHUNK = 500


@dataclass(frozen=True)
class RetryRequested:
    """What a retry click did: how many exceptions now wait for their flow's retry run, the
    runs queued, and the flows whose run was busy (served by the next retry sweep)."""

    count: int
    runs: list[Any] = field(default_factory=list)
    busy_flows: list[Any] = field(default_factory=list)


def _exception_ids(exceptions: Iterable[SyncException] | QuerySet) -> list[int]:
    if isinstance(exceptions, QuerySet):
        return list(exceptions.order_by().values_list("pk", flat=True))
    return [exception.pk for exception in exceptions]


def _open_locked(ids: list[int]) -> Iterator[SyncException]:
    """The still-open exceptions among ``ids``, locked, with what their audit events name."""
    from integrations.models import OPEN_EXCEPTION_STATUSES

    for start in range(0, len(ids), ACTION_CHUNK):
        chunk = ids[start: start + ACTION_CHUNK]
        yield from (SyncException.objects.select_for_update(of=("self",))
                    .select_related("flow__source_connection")
                    .filter(pk__in=chunk, status__in=OPEN_EXCEPTION_STATUSES).order_by("pk"))


def _audit_exception(exception: SyncException, *, action: str, actor: Any, source: str, before: Any = None,
                     after: Any = None, data: dict[str, Any] | None = None) -> None:
    audit_event_record(
        action=action, source=source, actor=actor, object_system=exception.flow.source_connection.system,
        object_type=exception.record_type, object_id=exception.record_id, object_ref=exception.record_ref,
        before=before, after=after, data=data, flow=exception.flow, run_id=exception.run_id,
        record_link_id=exception.record_link_id,
    )


def exception_retry(
    *, exceptions: Iterable[SyncException] | QuerySet, actor: Any, source: str = AuditSource.UI
) -> RetryRequested:
    """Retry now: each open exception becomes due (``retrying``, next attempt now) and one
    retry run per flow is requested; that run re-reads exactly the records whose retry is due
    (``services.retries.exceptions_due``), and a success closes the exception. A flow whose run
    is busy gets its retry from the retry sweep once the run ends."""
    from django.utils import timezone

    from integrations.models import ExceptionStatus, RunTrigger
    from integrations.services.runs import flow_run_request

    ids = _exception_ids(exceptions)
    flows: dict[int, Any] = {}
    count = 0
    now = timezone.now()
    with transaction.atomic(), operation():
        for exception in _open_locked(ids):
            before = {"status": exception.status, "next_attempt_at": _iso(exception.next_attempt_at)}
            SyncException.objects.filter(pk=exception.pk).update(
                status=ExceptionStatus.RETRYING, next_attempt_at=now, updated_at=now)
            _audit_exception(exception, action="exception.retried", actor=actor, source=source, before=before,
                             after={"status": ExceptionStatus.RETRYING, "next_attempt_at": _iso(now)})
            flows.setdefault(exception.flow_id, exception.flow)
            count += 1
        runs, busy = [], []
        for flow in flows.values():
            run = flow_run_request(flow=flow, trigger=RunTrigger.RETRY, actor=actor)
            (runs if run else busy).append(run or flow)
    return RetryRequested(count=count, runs=runs, busy_flows=busy)


def _close(
    *, exceptions: Iterable[SyncException] | QuerySet, status: str, action: str, note: str, actor: Any, source: str
) -> int:
    from django.utils import timezone

    ids = _exception_ids(exceptions)
    now = timezone.now()
    resolved_by = actor if getattr(actor, "pk", None) else None
    count = 0
    with transaction.atomic(), operation():
        for exception in _open_locked(ids):
            before = {"status": exception.status}
            SyncException.objects.filter(pk=exception.pk).update(
                status=status, resolution_note=note, resolved_by=resolved_by, resolved_at=now, next_attempt_at=None,
                updated_at=now)
            _audit_exception(exception, action=action, actor=actor, source=source, before=before,
                             after={"status": status, "resolution_note": note}, data={"note": note})
            count += 1
    return count


def exception_resolve(
    *, exceptions: Iterable[SyncException] | QuerySet, note: str, actor: Any, source: str = AuditSource.UI
) -> int:
    """A person settled the records outside the flow (fixed in Xero by hand, say): close the
    exceptions with their note, which the audit trail keeps. Returns how many were open."""
    from integrations.models import ExceptionStatus

    if not note.strip():
        raise ValueError("Resolving needs a note saying how the record was settled.")
    return _close(exceptions=exceptions, status=ExceptionStatus.RESOLVED, action="exception.resolved",
                  note=note.strip(), actor=actor, source=source)


def exception_ignore(
    *, exceptions: Iterable[SyncException] | QuerySet, actor: Any, note: str = "", source: str = AuditSource.UI
) -> int:
    """The records need no sync (a test order, a duplicate): close the exceptions as ignored.
    Returns how many were open."""
    from integrations.models import ExceptionStatus

    return _close(exceptions=exceptions, status=ExceptionStatus.IGNORED, action="exception.ignored",
                  note=note.strip(), actor=actor, source=source)


def exception_edit_and_retry(
    *, exception: SyncException, payload: dict[str, Any], actor: Any, source: str = AuditSource.UI
) -> RetryRequested:
    """Keep a person's corrected payload beside the original (``transformed_payload`` is never
    touched) and retry: the retry run sends ``edited_payload`` instead of the mapped one.
    The edit and the retry share one correlation id."""
    from integrations.models import OPEN_EXCEPTION_STATUSES

    if not isinstance(payload, dict):
        raise ValueError("The payload must be a JSON object.")
    with transaction.atomic(), operation():
        locked = (SyncException.objects.select_for_update(of=("self",)).select_related("flow__source_connection")
                  .filter(pk=exception.pk, status__in=OPEN_EXCEPTION_STATUSES).first())
        if locked is None:
            return RetryRequested(count=0)
        before = locked.edited_payload
        SyncException.objects.filter(pk=locked.pk).update(edited_payload=payload)
        exception.edited_payload = payload
        _audit_exception(locked, action="exception.edited", actor=actor, source=source,
                         before=before if before is not None else locked.transformed_payload, after=payload)
        return exception_retry(exceptions=[locked], actor=actor, source=source)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


# --- Written by the engine ----------------------------------------------------------------------

RETRYABLE_CLASSES = {"transient", "rate_limited"}


def exception_record(
    *,
    flow: Any,
    run: Any,
    record_type: str,
    record_id: str,
    record_ref: str = "",
    stage: str,
    error_class: str,
    code: str,
    message: str,
    source_payload: Any = None,
    transformed_payload: Any = None,
    remote_response: Any = None,
    record_link: Any = None,
) -> SyncException:
    """The record failed: open its exception, or update the open one (only the newest
    exception per record is open). Transient and rate-limit failures are retried on the flow's
    schedule; when the schedule runs out, people are alerted once."""
    from datetime import timedelta

    from django.utils import timezone

    from integrations.models import ExceptionStatus, OPEN_EXCEPTION_STATUSES
    from integrations.services.alerts import alert_raise

    schedule = list(flow.retry_schedule or [])
    with transaction.atomic():
        existing = (SyncException.objects.select_for_update()
                    .filter(flow=flow, record_type=record_type, record_id=record_id, status__in=OPEN_EXCEPTION_STATUSES)
                    .first())
        attempts = existing.attempts + 1 if existing else 1
        retryable = error_class in RETRYABLE_CLASSES and attempts <= len(schedule)
        fields = dict(
            run=run, record_link=record_link, record_ref=record_ref, stage=stage, error_class=error_class, code=code,
            message=message, source_payload=source_payload or {}, transformed_payload=transformed_payload,
            remote_response=remote_response, attempts=attempts,
            status=ExceptionStatus.RETRYING if retryable else ExceptionStatus.OPEN,
            next_attempt_at=timezone.now() + timedelta(seconds=schedule[attempts - 1]) if retryable else None,
        )
        if existing:
            for name, value in fields.items():
                setattr(existing, name, value)
            existing.save()
            exception = existing
        else:
            exception = SyncException.objects.create(flow=flow, record_type=record_type, record_id=record_id, **fields)
        audit_event_record(
            action="exception.opened" if not existing else "record.failed", source=AuditSource.WORKER,
            object_system=flow.source_connection.system, object_type=record_type, object_id=record_id,
            object_ref=record_ref, flow=flow, run=run, record_link=record_link,
            data={"message": message, "code": code, "attempt": attempts},
        )
        if error_class in RETRYABLE_CLASSES and not retryable:
            alert_raise(
                kind="retries_exhausted", dedup_key=f"retries_exhausted:{flow.pk}", flow=flow,
                subject=f"{flow.name}: automatic retries ran out",
                message=f"{record_type} {record_ref or record_id} failed {attempts} times ({message}); "
                        "it waits in the review queue.",
            )
    return exception


def exception_auto_resolve(*, flow: Any, record_type: str, record_id: str, run: Any = None) -> int:
    """A later success closes the record's open exception."""
    from django.utils import timezone

    from integrations.models import ExceptionStatus, OPEN_EXCEPTION_STATUSES

    with transaction.atomic():
        open_ones = list(SyncException.objects.select_for_update().filter(
            flow=flow, record_type=record_type, record_id=record_id, status__in=OPEN_EXCEPTION_STATUSES))
        for exception in open_ones:
            exception.status = ExceptionStatus.AUTO_RESOLVED
            exception.resolved_at = timezone.now()
            exception.next_attempt_at = None
            exception.save(update_fields=["status", "resolved_at", "next_attempt_at", "updated_at"])
            audit_event_record(
                action="exception.auto_resolved", source=AuditSource.WORKER,
                object_system=flow.source_connection.system, object_type=record_type, object_id=record_id,
                object_ref=exception.record_ref, flow=flow, run=run, record_link_id=exception.record_link_id,
            )
    return len(open_ones)
