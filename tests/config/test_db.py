"""GrowthAnalyzer: fresh planner statistics while a job fills a table."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.db import GrowthAnalyzer
from integrations.models import RecordLink
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
