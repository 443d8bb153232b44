"""Paging through tables of millions of rows without counting them.

``COUNT(*)`` over a million exceptions or five million audit events costs more than the page
itself on every request. :class:`EstimatedCountPaginator` counts exactly only up to a small
cap (a bounded count reads at most ``exact_up_to`` index entries); beyond it the count is the
planner's estimate on PostgreSQL (``EXPLAIN``'s row estimate, or ``pg_class.reltuples`` for a
whole table), shown as "about". A page reads one row more than it shows to know whether there
is a next page, so "Next" is always right even when the estimate is not.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connections
from django.db.models import QuerySet

EXACT_UP_TO = 1000


def estimated_count(queryset: QuerySet) -> int | None:
    """The planner's estimate of ``queryset.count()`` on PostgreSQL; ``None`` elsewhere.

    An unfiltered table reads ``pg_class.reltuples`` (kept by VACUUM/ANALYZE); a filtered one
    asks ``EXPLAIN`` for its row estimate, which costs planning time only."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    query = queryset.query
    with connection.cursor() as cursor:
        if not query.where:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                           [queryset.model._meta.db_table])
            row = cursor.fetchone()
            if row and row[0] >= 0:  # -1: never analysed
                return int(row[0])
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def bounded_count(queryset: QuerySet, exact_up_to: int = EXACT_UP_TO) -> tuple[int, bool]:
    """``(count, is_estimate)``: exact up to ``exact_up_to`` (reading at most that many index
    entries), the planner's estimate beyond it (never less than what was counted)."""
    bounded = queryset.order_by()[: exact_up_to + 1].count()
    if bounded <= exact_up_to:
        return bounded, False
    return max(estimated_count(queryset) or 0, bounded), True


def bounded_counts(querysets: list[QuerySet], exact_up_to: int = EXACT_UP_TO) -> list[tuple[int, bool]]:
    """:func:`bounded_count` of several querysets in one round trip (``UNION ALL`` of the
    bounded counts); only those past the cap cost a second statement, the estimate."""
    if not querysets:
        return []
    parts, params = [], []
    for queryset in querysets:
        sql, part_params = queryset.order_by().values("pk")[: exact_up_to + 1].query.sql_with_params()
        parts.append(f"SELECT (SELECT COUNT(*) FROM ({sql}) bounded)")
        params += part_params
    connection = connections[querysets[0].db]
    with connection.cursor() as cursor:
        # UNION ALL keeps the parts' order in practice on both databases; the index column
        # makes it explicit.
        numbered = " UNION ALL ".join(f"SELECT {n} AS n, ({part}) AS c" for n, part in enumerate(parts))
        cursor.execute(f"SELECT n, c FROM ({numbered}) counts ORDER BY n", params)
        counts = [count for _, count in cursor.fetchall()]
    past = [queryset for queryset, count in zip(querysets, counts, strict=True) if count > exact_up_to]
    estimates = iter(estimated_counts(past))
    return [(max(next(estimates) or 0, count), True) if count > exact_up_to else (count, False)
            for count in counts]


def estimated_counts(querysets: list[QuerySet]) -> list[int | None]:
    """The planner's row estimates of several querysets from one ``EXPLAIN`` of their
    ``UNION ALL`` (the Append node keeps one child plan per part, in order); ``None`` each
    off PostgreSQL."""
    if not querysets:
        return []
    connection = connections[querysets[0].db]
    if connection.vendor != "postgresql":
        return [None] * len(querysets)
    if len(querysets) == 1:
        return [estimated_count(querysets[0])]
    parts, params = [], []
    for queryset in querysets:
        sql, part_params = queryset.order_by().values("pk").query.sql_with_params()
        parts.append(f"({sql})")
        params += part_params
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {' UNION ALL '.join(parts)}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    children = plan[0]["Plan"].get("Plans", [])
    if plan[0]["Plan"]["Node Type"] != "Append" or len(children) != len(querysets):
        return [estimated_count(queryset) for queryset in querysets]
    return [int(child["Plan Rows"]) for child in children]


class EstimatedPage(Page):
    """A page that knows whether a next page exists from the extra row it read."""

    def __init__(self, object_list: Any, number: int, paginator: EstimatedCountPaginator, more: bool) -> None:
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self) -> bool:
        return self.more

    def end_index(self) -> int:
        return (self.number - 1) * self.paginator.per_page + len(self.object_list)


class EstimatedCountPaginator(Paginator):
    """A paginator whose ``count`` is exact up to :data:`EXACT_UP_TO` and estimated beyond
    (``is_estimate`` says which); pages are read by offset with one extra row."""

    exact_up_to = EXACT_UP_TO

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        object_list = self.object_list
        if not isinstance(object_list, QuerySet):
            self.is_estimate = False
            return len(object_list)
        count, self.is_estimate = bounded_count(object_list, self.exact_up_to)
        return count

    is_estimate = False

    def validate_number(self, number: Any) -> int:
        try:
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger("That page number is not an integer") from None
        if number < 1:
            raise EmptyPage("That page number is less than 1")
        return number

    def page(self, number: Any) -> EstimatedPage:  # type: ignore[override]
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom: bottom + self.per_page + 1])
        more = len(rows) > self.per_page
        rows = rows[: self.per_page]
        if not rows and number > 1:
            raise EmptyPage("That page contains no results")
        self.last_page = EstimatedPage(rows, number, self, more)
        return self.last_page


def estimated_changelist_class() -> type:
    """An admin ChangeList for :class:`EstimatedCountPaginator`: it keeps whether the page it
    read has a next one and gives the Previous/Next links the pagination template shows."""
    from django.contrib.admin.views.main import PAGE_VAR, ChangeList

    class EstimatedChangeList(ChangeList):
        has_next_page = False

        @cached_property
        def date_hierarchy_context(self) -> dict[str, Any]:
            return date_hierarchy_context(self)

        def get_results(self, request: Any) -> None:
            super().get_results(request)
            page = getattr(self.paginator, "last_page", None)
            self.has_next_page = bool(page and page.number == self.page_num and page.has_next())

        @property
        def previous_page_url(self) -> str | None:
            return self.get_query_string({PAGE_VAR: self.page_num - 1}) if self.page_num > 1 else None

        @property
        def next_page_url(self) -> str | None:
            return self.get_query_string({PAGE_VAR: self.page_num + 1}) if self.has_next_page else None

    return EstimatedChangeList


def _ends(queryset: QuerySet, field_name: str) -> tuple[Any, Any]:
    """The first and last value of ``field_name``, each read from one end of an index."""
    first = queryset.order_by(field_name).values_list(field_name, flat=True).first()
    last = queryset.order_by(f"-{field_name}").values_list(field_name, flat=True).first()
    return first, last


def date_hierarchy_context(cl: Any) -> dict[str, Any]:
    """The admin's date drill-down (years, months, days) without its ``SELECT DISTINCT`` over
    every row: the range comes from the first and last date (two index probes) and every
    year, month or day inside it is offered, with or without rows. Same context as Django's
    ``date_hierarchy`` tag, for ``admin/date_hierarchy.html``."""
    import calendar
    from datetime import date

    from django.utils import formats, timezone
    from django.utils.text import capfirst

    field_name = cl.date_hierarchy
    if not field_name:
        return {"show": False}
    year_field, month_field, day_field = (f"{field_name}__{part}" for part in ("year", "month", "day"))
    year, month, day = (cl.params.get(name) for name in (year_field, month_field, day_field))
    year, month, day = (int(v[-1] if isinstance(v, list) else v) if v else None for v in (year, month, day))

    def link(filters: dict[str, Any]) -> str:
        return cl.get_query_string(filters, [f"{field_name}__"])

    first = last = None
    if not year:
        first, last = _ends(cl.queryset, field_name)
        if first is None:
            return {"show": False}
        first, last = (timezone.localtime(v) if timezone.is_aware(v) else v for v in (first, last))
        if first.year == last.year:
            year = first.year
            if first.month == last.month:
                month = first.month
    if year and month and day:
        chosen = date(year, month, day)
        return {"show": True,
                "back": {"link": link({year_field: year, month_field: month}),
                         "title": capfirst(formats.date_format(chosen, "YEAR_MONTH_FORMAT"))},
                "choices": [{"title": capfirst(formats.date_format(chosen, "MONTH_DAY_FORMAT"))}]}
    if year and month:
        days = range(1, calendar.monthrange(year, month)[1] + 1)
        if first is not None and first.year == last.year and first.month == last.month:
            days = range(first.day, last.day + 1)
        return {"show": True, "back": {"link": link({year_field: year}), "title": str(year)},
                "choices": [{"link": link({year_field: year, month_field: month, day_field: d}),
                             "title": capfirst(formats.date_format(date(year, month, d), "MONTH_DAY_FORMAT"))}
                            for d in days]}
    if year:
        months = range(1, 13)
        if first is not None and first.year == last.year:
            months = range(first.month, last.month + 1)
        return {"show": True, "back": {"link": link({}), "title": "All dates"},
                "choices": [{"link": link({year_field: year, month_field: m}),
                             "title": capfirst(formats.date_format(date(year, m, 1), "YEAR_MONTH_FORMAT"))}
                            for m in months]}
    return {"show": True, "back": None,
            "choices": [{"link": link({year_field: y}), "title": str(y)} for y in range(first.year, last.year + 1)]}
