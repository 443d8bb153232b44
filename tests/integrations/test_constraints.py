"""What the database itself refuses, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from integrations.models import ExceptionStatus, LinkState, RecordLink, RunStatus, SyncRun
from tests.factories import make_connection, make_exception, make_flow

pytestmark = pytest.mark.django_db


def _link(source, target, source_id="so-1", target_id=None, **kwargs):
    return RecordLink.objects.create(
        source_connection=source, source_type="salesorder", source_id=source_id,
        target_connection=target, target_type="invoice", target_id=target_id, **kwargs,
    )


class TestRecordLinks:
    def test_second_link_for_the_same_source_record_is_refused(self):
        tims, xero = make_connection(system="tims"), make_connection()
        _link(tims, xero, "so-1", "inv-1", state=LinkState.LINKED)
        with pytest.raises(IntegrityError), transaction.atomic():
            _link(tims, xero, "so-1", "inv-2", state=LinkState.LINKED)

    def test_second_link_for_the_same_target_record_is_refused(self):
        tims, xero = make_connection(system="tims"), make_connection()
        _link(tims, xero, "so-1", "inv-1", state=LinkState.LINKED)
        with pytest.raises(IntegrityError), transaction.atomic():
            _link(tims, xero, "so-2", "inv-1", state=LinkState.LINKED)

    def test_pending_links_without_a_target_id_do_not_collide(self):
        tims, xero = make_connection(system="tims"), make_connection()
        _link(tims, xero, "so-1")
        _link(tims, xero, "so-2")
        assert RecordLink.objects.filter(target_id__isnull=True).count() == 2

    def test_one_xero_contact_may_be_both_a_customer_and_a_vendor(self):
        tims, xero = make_connection(system="tims"), make_connection()
        for source_type in ("customer", "vendor"):
            RecordLink.objects.create(
                source_connection=tims, source_type=source_type, source_id="acme",
                target_connection=xero, target_type="contact", target_id="contact-1", state=LinkState.LINKED,
            )
        assert RecordLink.objects.filter(target_id="contact-1").count() == 2

    def test_a_linked_record_needs_its_target_id(self):
        tims, xero = make_connection(system="tims"), make_connection()
        with pytest.raises(IntegrityError), transaction.atomic():
            _link(tims, xero, "so-1", None, state=LinkState.LINKED)


class TestRuns:
    def test_second_active_run_of_one_flow_is_refused(self):
        flow = make_flow()
        SyncRun.objects.create(flow=flow, trigger="manual", status=RunStatus.RUNNING)
        with pytest.raises(IntegrityError), transaction.atomic():
            SyncRun.objects.create(flow=flow, trigger="schedule", status=RunStatus.QUEUED)

    def test_finished_runs_do_not_block_a_new_one(self):
        flow = make_flow()
        for status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CRASHED):
            SyncRun.objects.create(flow=flow, trigger="manual", status=status)
        SyncRun.objects.create(flow=flow, trigger="manual", status=RunStatus.QUEUED)
        assert flow.runs.count() == 4

    def test_other_flows_run_at_the_same_time(self):
        first, second = make_flow(), make_flow()
        SyncRun.objects.create(flow=first, trigger="manual", status=RunStatus.RUNNING)
        SyncRun.objects.create(flow=second, trigger="manual", status=RunStatus.RUNNING)
        assert SyncRun.objects.filter(status=RunStatus.RUNNING).count() == 2


class TestExceptions:
    def test_one_open_exception_per_record(self):
        flow = make_flow()
        make_exception(flow, record_id="so-9")
        with pytest.raises(IntegrityError), transaction.atomic():
            make_exception(flow, record_id="so-9", status=ExceptionStatus.RETRYING)

    def test_a_closed_exception_does_not_block_a_new_one(self):
        flow = make_flow()
        for status in (ExceptionStatus.RESOLVED, ExceptionStatus.AUTO_RESOLVED, ExceptionStatus.IGNORED):
            make_exception(flow, record_id="so-9", status=status)
        make_exception(flow, record_id="so-9")
        assert flow.exceptions.filter(record_id="so-9").count() == 4


class TestFlows:
    def test_a_flow_connects_two_different_connections(self):
        connection = make_connection()
        with pytest.raises(IntegrityError), transaction.atomic():
            make_flow(source_connection=connection, target_connection=connection)

    def test_batch_size_is_bounded(self):
        with pytest.raises(IntegrityError), transaction.atomic():
            make_flow(batch_size=0)
