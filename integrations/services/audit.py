"""Writing the audit trail. Every write that matters calls :func:`audit_event_record` in
its own transaction (Zulip's pattern), and one operation shares one correlation id."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from integrations.log_actions import log_actions
from integrations.models import AuditEvent, AuditSource

_correlation_id: ContextVar[uuid.UUID | None] = ContextVar("ledgerbridge_correlation_id", default=None)


@contextmanager
def operation(correlation_id: uuid.UUID | None = None) -> Iterator[uuid.UUID]:
    """Give every audit event written inside the block one correlation id.

    Nested blocks join the outer operation, so "retry 40 invoices" is one id, not forty.
    """
    current = _correlation_id.get()
    if current is not None:
        yield current
        return
    value = correlation_id or uuid.uuid4()
    token = _correlation_id.set(value)
    try:
        yield value
    finally:
        _correlation_id.reset(token)


def current_correlation_id() -> uuid.UUID | None:
    return _correlation_id.get()


def audit_event_build(
    *,
    action: str,
    source: AuditSource | str,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    object_system: str = "",
    object_type: str = "",
    object_id: str | int = "",
    object_ref: str = "",
    before: Any = None,
    after: Any = None,
    data: dict[str, Any] | None = None,
    **refs: Any,
) -> AuditEvent:
    """One audit event, not yet saved: for writers that append many at once
    (``config.db.bulk_insert``), such as a batch of a sync run."""
    log_actions.get(action)  # refuses unregistered actions
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return AuditEvent(
        action=action,
        source=source,
        actor=actor,
        actor_label=actor.get_username() if actor is not None else "",
        object_system=object_system,
        object_type=object_type,
        object_id=str(object_id),
        object_ref=object_ref,
        before=before,
        after=after,
        data=data or {},
        correlation_id=current_correlation_id() or uuid.uuid4(),
        **refs,
    )


def audit_event_record(**fields: Any) -> AuditEvent:
    """Append one audit event; takes what :func:`audit_event_build` takes (``refs``: ``flow``,
    ``run``, ``record_link``, ``api_call``)."""
    event = audit_event_build(**fields)
    event.save()
    return event
