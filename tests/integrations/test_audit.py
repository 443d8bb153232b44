"""The audit trail: append-only, registered actions, one correlation id per operation."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, connection, transaction

from integrations.log_actions import UnknownLogAction, log_actions
from integrations.models import AppendOnlyError, AuditEvent, AuditSource
from integrations.services.audit import audit_event_record, operation
from tests.factories import make_exception, make_flow

pytestmark = pytest.mark.django_db


def _event(**kwargs):
    defaults = dict(action="record.created", source=AuditSource.WORKER, object_system="xero",
                    object_type="invoice", object_id="inv-1", object_ref="INV-0001")
    return audit_event_record(**{**defaults, **kwargs})


def test_events_cannot_be_changed_or_deleted_through_the_orm():
    event = _event()
    event.object_ref = "tampered"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(object_ref="tampered")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_update([event], ["object_ref"])
    assert AuditEvent.objects.get(pk=event.pk).object_ref == "INV-0001"


def test_postgresql_refuses_raw_update_and_delete(postgres_only):
    event = _event()
    for sql in (
        "UPDATE integrations_auditevent SET object_ref = 'tampered' WHERE id = %s",
        "DELETE FROM integrations_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).object_ref == "INV-0001"


def test_unregistered_actions_are_refused():
    with pytest.raises(UnknownLogAction):
        _event(action="invoice.made_up")


def test_actions_read_as_sentences():
    user = User.objects.create_user("fiona")
    event = _event(action="exception.assigned", actor=user, object_type="salesorder", object_ref="SO-1001",
                   data={"assignee": "sam"})
    assert event.description == "fiona assigned salesorder SO-1001 to sam"
    assert _event().description == "Created invoice INV-0001 in the target system"
    assert ("exception.retried", "Exception retried") in log_actions.choices()


def test_one_correlation_id_per_operation():
    with operation() as correlation_id:
        first = _event()
        with operation():  # nested work joins the outer operation
            second = _event(action="record.updated")
    third = _event()
    assert first.correlation_id == second.correlation_id == correlation_id
    assert third.correlation_id != correlation_id


def test_the_system_acts_without_a_user_and_deleting_a_user_keeps_the_trail():
    assert _event().actor is None
    user = User.objects.create_user("leaver")
    event = _event(actor=user)
    user.delete()
    kept = AuditEvent.objects.get(pk=event.pk)
    assert kept.actor_label == "leaver"


def test_assigning_an_exception_writes_one_event_per_record_with_one_correlation_id():
    from integrations.services.exceptions import exception_assign

    flow = make_flow()
    exceptions = [make_exception(flow) for _ in range(3)]
    finance = User.objects.create_user("fiona")
    sam = User.objects.create_user("sam")
    exception_assign(exceptions=exceptions, assignee=sam, actor=finance)
    events = AuditEvent.objects.filter(action="exception.assigned")
    assert events.count() == 3
    assert len({e.correlation_id for e in events}) == 1
    assert {e.after["assignee"] for e in events} == {sam.pk}
    assert all(e.actor_id == finance.pk for e in events)


def test_config_history_records_who_changed_what():
    from simple_history.utils import update_change_reason  # noqa: F401  (the package is installed)

    user = User.objects.create_user("ines")
    flow = make_flow(batch_size=50)
    flow._history_user = user
    flow.batch_size = 100
    flow.save()
    latest, previous = flow.history.order_by("-history_date")[:2]
    delta = latest.diff_against(previous)
    assert latest.history_user == user
    assert [(c.field, c.old, c.new) for c in delta.changes] == [("batch_size", 50, 100)]
