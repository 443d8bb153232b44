"""Database helpers the whole project shares (the engine and the sandboxes alike)."""

from __future__ import annotations

import threading

from django.db import connections, models


class GrowthAnalyzer:
    """``ANALYZE`` a table each time a job has doubled the rows it added to it (from
    ``first`` rows on), on PostgreSQL.

    A first backfill fills its tables from empty. Until autovacuum's next look (a minute or
    more) the planner has no statistics for them and takes a few equality tests on the
    connection and type to leave a single row, so a lookup of a batch's 50 source ids became an
    index range over every row of the flow with the ids as a filter: a scan per batch that grew
    with the run. PostgreSQL's advice after a bulk load is to ``ANALYZE``; this does it while
    the load goes on, a handful of times per run (it samples at most 30,000 rows and blocks no
    reader or writer)."""

    def __init__(self, model: type[models.Model], *, first: int = 1000, using: str = "default") -> None:
        self.model = model
        self.using = using
        self.due = first
        self.added = 0
        self._lock = threading.Lock()

    def rows_added(self, count: int) -> None:
        connection = connections[self.using]
        if connection.vendor != "postgresql" or count <= 0:
            return
        with self._lock:
            self.added += count
            if self.added < self.due:
                return
            self.due = 2 * self.added
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(self.model._meta.db_table)}")
