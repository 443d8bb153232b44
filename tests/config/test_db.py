"""GrowthAnalyzer: fresh planner statistics while a job fills a table."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from config.db import GrowthAnalyzer, bulk_insert, bulk_update_fields, select_rows
from integrations.models import AuditEvent, RecordLink, ValueMap, ValueMapEntry
from sandbox.models import XeroInvoice, XeroLineItem, XeroTenant
from tests.factories import make_connection


def _reltuples() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [RecordLink._meta.db_table])
        return cursor.fetchone()[0]


def _links(count: int, start: int) -> None:
    source, target = make_connection(system="tims"), make_connection(system="xero")
    RecordLink.objects.bulk_create(
        RecordLink(source_connection=source, source_type="sales_order", source_id=f"so-{start + n}",
                   target_connection=target, target_type="invoice") for n in range(count))


def test_analyzes_once_the_first_rows_are_in_then_each_time_they_double(postgres_only):
    analyzer = GrowthAnalyzer(RecordLink, first=4)
    never_analysed = _reltuples()

    _links(3, 0)
    analyzer.rows_added(3)
    assert _reltuples() == never_analysed  # fewer than the first four

    _links(1, 3)
    analyzer.rows_added(1)
    assert _reltuples() == 4  # analysed: the planner now counts them

    _links(3, 4)
    analyzer.rows_added(3)
    assert _reltuples() == 4  # 7 added: the next look is at 8

    _links(1, 7)
    analyzer.rows_added(1)
    assert _reltuples() == 8


@pytest.mark.django_db
def test_sends_one_analyze_at_the_threshold_on_postgresql_and_nothing_elsewhere():
    analyzer = GrowthAnalyzer(RecordLink, first=4)
    with CaptureQueriesContext(connection) as below:
        analyzer.rows_added(3)
    assert below.captured_queries == []  # below the first threshold: on any database

    with CaptureQueriesContext(connection) as at:
        analyzer.rows_added(1)
    sent = [query["sql"] for query in at.captured_queries]
    if connection.vendor == "postgresql":
        assert sent == [f'ANALYZE "{RecordLink._meta.db_table}"']
    else:
        assert sent == []  # SQLite's planner has no such statistics to refresh


# --- bulk_insert --------------------------------------------------------------------------------


def _invoice_with_lines(tenant: XeroTenant, number: str) -> tuple[XeroInvoice, list[XeroLineItem]]:
    """A new invoice and its new lines, which name it before it has a primary key (as the
    sandbox's pending rows do). The columns mix what passes as it is with what the fields must
    convert: an int and a str in a Decimal column, a tuple in a JSON one."""
    invoice = XeroInvoice(tenant=tenant, type="ACCREC", status="AUTHORISED", invoice_number=number,
                          date=date(2026, 3, 1), total=Decimal("12.50"), extra={"Source": 'TIMS "SO"'})
    lines = [
        XeroLineItem(invoice=invoice, position=0, description="Argon \\ 50L", quantity=Decimal("2.5"),
                     unit_amount="4.10", tax_amount=Decimal("2.05"), line_amount=Decimal("10.25"),
                     tracking=[{"Name": "Region", "Option": "North"}]),
        XeroLineItem(invoice=invoice, position=1, description="", quantity=3, unit_amount=None,
                     discount_rate=Decimal("10"), line_amount=Decimal("2.25"), tracking=()),
    ]
    return invoice, lines


def _stored(invoice: XeroInvoice) -> tuple[dict, list[dict]]:
    head = XeroInvoice.objects.filter(pk=invoice.pk).values(
        "type", "status", "invoice_number", "date", "total", "extra", "tenant_id", "contact_id", "currency_rate").get()
    lines = list(XeroLineItem.objects.filter(invoice_id=invoice.pk).order_by("position").values(
        "position", "description", "quantity", "unit_amount", "discount_rate", "tax_amount", "line_amount", "tracking"))
    return head, lines


def test_bulk_insert_stores_what_bulk_create_stores(db):
    tenant = XeroTenant.objects.create(name="Bulk")
    made_by_django, django_lines = _invoice_with_lines(tenant, "INV-1")
    XeroInvoice.objects.bulk_create([made_by_django])
    XeroLineItem.objects.bulk_create(django_lines)

    invoice, lines = _invoice_with_lines(tenant, "INV-1")
    bulk_insert(XeroInvoice, [invoice])
    bulk_insert(XeroLineItem, lines)

    assert invoice.pk and invoice.pk != made_by_django.pk
    assert [line.invoice_id for line in lines] == [invoice.pk, invoice.pk]  # taken from the invoice once inserted
    assert _stored(invoice) == _stored(made_by_django)
    assert _stored(invoice)[1][0]["quantity"] == Decimal("2.5")


def test_bulk_insert_sets_the_primary_keys_in_order_and_marks_the_rows_saved(db):
    tenant = XeroTenant.objects.create(name="Keys")
    invoices = [XeroInvoice(tenant=tenant, type="ACCREC", status="DRAFT", invoice_number=f"INV-{n}") for n in range(5)]
    returned = bulk_insert(XeroInvoice, invoices)
    assert list(returned) == invoices
    assert all(not invoice._state.adding and invoice._state.db == "default" for invoice in invoices)
    assert dict(XeroInvoice.objects.filter(pk__in=[i.pk for i in invoices]).values_list("pk", "invoice_number")) == {
        invoice.pk: invoice.invoice_number for invoice in invoices}


def test_bulk_insert_fills_auto_now_fields(db):
    value_map = ValueMap.objects.create(name="Bulk map")
    entries = bulk_insert(ValueMapEntry, [ValueMapEntry(value_map=value_map, source_value=f"S{n}", target_value="T") for n in range(2)])
    stored = ValueMapEntry.objects.filter(value_map=value_map).order_by("source_value")
    assert [e.created_at for e in stored] == [e.created_at for e in entries]
    assert all(e.created_at is not None and e.updated_at is not None for e in stored)


def test_bulk_insert_refuses_a_row_whose_related_object_is_unsaved(db):
    tenant = XeroTenant.objects.create(name="Unsaved")
    invoice, lines = _invoice_with_lines(tenant, "INV-9")
    with pytest.raises(ValueError, match="unsaved related object 'invoice'"):
        bulk_insert(XeroLineItem, lines)
    assert not XeroLineItem.objects.exists()


def test_bulk_insert_writes_one_unnest_insert_on_postgresql(postgres_only):
    tenant = XeroTenant.objects.create(name="One statement")
    invoice, lines = _invoice_with_lines(tenant, "INV-2")
    bulk_insert(XeroInvoice, [invoice])
    with CaptureQueriesContext(connection) as queries:
        bulk_insert(XeroLineItem, lines)
    assert len(queries) == 1 and "UNNEST" in queries[0]["sql"]


def test_bulk_insert_leaves_rows_with_primary_keys_to_bulk_create(db):
    value_map = ValueMap.objects.create(name="Given keys")
    rows = [ValueMapEntry(pk=9001, value_map=value_map, source_value="A", target_value="B")]
    bulk_insert(ValueMapEntry, rows)
    assert ValueMapEntry.objects.get(pk=9001).source_value == "A"


def test_bulk_update_fields_writes_each_row_its_own_values_and_nothing_else(db):
    tenant = XeroTenant.objects.create(name="Update")
    invoices = bulk_insert(XeroInvoice, [XeroInvoice(tenant=tenant, type="ACCREC", status="DRAFT", invoice_number=f"INV-{n}",
                                                     reference="kept") for n in range(3)])
    for n, invoice in enumerate(invoices):
        invoice.status = "AUTHORISED" if n else "VOIDED"
        invoice.total = "10.50" if n == 1 else Decimal(n)  # a str the field converts, beside Decimals
        invoice.date = None if n == 2 else date(2026, 5, n + 1)
        invoice.reference = "not written"
    bulk_update_fields(XeroInvoice, invoices, ["status", "total", "date"])
    stored = list(XeroInvoice.objects.filter(tenant=tenant).order_by("pk").values_list("status", "total", "date", "reference"))
    assert stored == [("VOIDED", Decimal("0.00"), date(2026, 5, 1), "kept"),
                      ("AUTHORISED", Decimal("10.50"), date(2026, 5, 2), "kept"),
                      ("AUTHORISED", Decimal("2.00"), None, "kept")]


# --- select_rows -------------------------------------------------------------------------------


def _some_links():
    source, target = make_connection(system="tims"), make_connection(system="xero")
    when = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc)
    links = [RecordLink.objects.create(source_connection=source, source_type="sales_order", source_id=f"so-{n}",
                                       target_connection=target, target_type="invoice", target_id=f"inv-{n}",
                                       state="linked" if n % 2 else "pending", last_synced_at=when if n else None)
             for n in range(6)]
    RecordLink.objects.create(source_connection=target, source_type="sales_order", source_id="so-1",  # another pair
                              target_connection=source, target_type="invoice", target_id="inv-x", state="linked")
    return source, target, links, when


def test_select_rows_reads_the_rows_a_queryset_would(db):
    source, target, links, when = _some_links()
    rows = select_rows(RecordLink, ["source_id", "target_id", "last_synced_at"], source_id=["so-1", "so-2", "so-3", "so-9"],
                       source_connection_id=source.pk, target_connection_id=target.pk, state="linked")
    assert sorted(rows) == [("so-1", "inv-1", when), ("so-3", "inv-3", when)]
    assert rows[0][2].tzinfo is not None  # aware, as the ORM gives it

    with transaction.atomic():
        locked = select_rows(RecordLink, None, for_update=True, source_id=["so-0", "so-4"],
                             source_connection_id=source.pk, source_type="sales_order")
    assert sorted(link.pk for link in locked) == [links[0].pk, links[4].pk]
    assert {link.source_id: link.last_synced_at for link in locked} == {"so-0": None, "so-4": when}
    assert select_rows(RecordLink, ["id"], source_id=[], source_connection_id=source.pk) == []
    # a tuple is "one of" too; a single value is equality
    assert sorted(select_rows(RecordLink, ["source_id"], state=("linked",), source_connection_id=source.pk)) == [
        ("so-1",), ("so-3",), ("so-5",)]
    assert select_rows(RecordLink, ["source_id"], source_id="so-2", target_id="inv-2") == [("so-2",)]


def test_select_rows_sends_the_values_as_one_parameter_on_postgresql(postgres_only):
    source, target, links, _ = _some_links()
    ids = [f"so-{n}" for n in range(50)]
    with CaptureQueriesContext(connection) as queries:
        rows = select_rows(RecordLink, ["source_id"], source_id=ids, source_connection_id=source.pk)
    assert sorted(rows) == [(f"so-{n}",) for n in range(6)]
    assert len(queries) == 1 and "ANY(" in queries[0]["sql"] and "so-49" in queries[0]["sql"]


def test_select_rows_converts_what_it_reads_as_the_orm_does(db):
    events = bulk_insert(AuditEvent, [AuditEvent(action="record.created", source="worker", object_id=f"so-{n}",
                                                 data={"total": "12.50", "n": n}) for n in range(3)])
    rows = select_rows(AuditEvent, ["object_id", "data"], object_id=["so-0", "so-2"])
    assert sorted(rows) == sorted(AuditEvent.objects.filter(object_id__in=["so-0", "so-2"]).values_list("object_id", "data"))
    assert {row[0]: row[1] for row in rows}["so-2"] == {"total": "12.50", "n": 2}
    objects = select_rows(AuditEvent, None, object_id=["so-1"])
    assert [(o.pk, o.data, o.correlation_id) for o in objects] == [(events[1].pk, events[1].data, events[1].correlation_id)]
