"""Timeline benchmark: one record's story at five million audit events, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m tests.bench.timeline [--events 5000000]

Creates its own throwaway database beside the one named (dropped at the end) and fills it in
bulk SQL: TIMS sales orders linked to Xero invoices (one record link each), ten audit events per
order split between the order (by its object columns) and its invoice (by the record link),
the runs they belong to, API calls naming some invoices, and exceptions. Then it times the
timeline page through Django's test client, signed in as an auditor, for records picked at
random (p50/p95 beside the goal), and prints the plans PostgreSQL chose for the audit-event
queries. It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from tests.bench.harness import Stopwatch, report, setup_django
from tests.bench.portal import _indexes_drop, _plan

GOAL_P95_MS = 250
EVENTS_PER_RECORD = 10
EVENTS_PER_RUN = 1000


def fill(*, events: int) -> dict[str, Any]:
    from django.contrib.auth.models import Group, User
    from django.db import connection

    from integrations.models import AuthKind, Connection, Flow, System
    from integrations.roles import AUDITORS

    tims = Connection.objects.create(name="TIMS bench", system=System.TIMS, auth_kind=AuthKind.OAUTH2_CLIENT_CREDENTIALS,
                                     tenant_id="bench")
    xero = Connection.objects.create(name="Xero bench", system=System.XERO, auth_kind=AuthKind.OAUTH2_AUTHORIZATION_CODE,
                                     tenant_id="bench-xero")
    flow = Flow.objects.create(slug="bench-orders", name="Bench orders", source_connection=tims,
                               source_entity="sales_order", target_connection=xero, target_entity="invoice")
    auditor = User.objects.create_user("auditor", is_staff=True)
    auditor.groups.add(Group.objects.get(name=AUDITORS))
    records = events // EVENTS_PER_RECORD
    runs = events // EVENTS_PER_RUN + 1
    timings: dict[str, float] = {}
    dropped = _indexes_drop(["integrations_auditevent", "integrations_apicall", "integrations_recordlink"])
    with connection.cursor() as cursor, Stopwatch() as clock:
        cursor.execute(f"""
            INSERT INTO integrations_syncrun (id, flow_id, trigger, status, "full", read_count, created_count,
              updated_count, unchanged_count, skipped_count, failed_count, cursor_before, cursor_after, error_message,
              correlation_id, task_id, created_at, started_at, heartbeat_at, finished_at)
            SELECT g, {flow.pk}, 'schedule', 'succeeded', false, 1000, 500, 400, 100, 0, 0, '{{}}', '{{}}', '',
                   md5('run' || g)::uuid, '', now() - (({runs} - g) * interval '90 days') / {runs},
                   now() - (({runs} - g) * interval '90 days') / {runs}, NULL, NULL
            FROM generate_series(1, {runs}) AS g""")
        cursor.execute("SELECT setval(pg_get_serial_sequence('integrations_syncrun', 'id'), %s)", [runs])
        # Order g is linked to invoice g; the link's id is g.
        cursor.execute(f"""
            INSERT INTO integrations_recordlink (id, source_connection_id, source_type, source_id, source_ref,
              target_connection_id, target_type, target_id, target_ref, state, payload_hash, remote_version,
              created_at, updated_at)
            SELECT g, {tims.pk}, 'sales_order', 'rec-' || g, 'SO-' || g, {xero.pk}, 'invoice', md5('inv' || g)::uuid::text,
                   'INV-' || g, 'linked', '', '', now(), now()
            FROM generate_series(1, {records}) AS g""")
        cursor.execute("SELECT setval(pg_get_serial_sequence('integrations_recordlink', 'id'), %s)", [records])
    timings["runs and links"] = clock.seconds
    with connection.cursor() as cursor, Stopwatch() as clock:
        step = 1_000_000
        for start in range(0, events, step):
            stop = min(events, start + step)
            # Event g concerns record r = g / 10 + 1: even g the order (object columns), odd g the
            # invoice (object columns and the record link); it belongs to run g / 1000 + 1.
            cursor.execute(f"""
                INSERT INTO integrations_auditevent
                  (created_at, actor_id, actor_label, source, action, object_system, object_type, object_id,
                   object_ref, flow_id, run_id, record_link_id, data, before, after, correlation_id)
                SELECT now() - (({events} - g) * interval '90 days') / {events}, NULL, '', 'worker',
                       CASE WHEN g % 2 = 0 THEN 'record.skipped' ELSE 'record.updated' END,
                       CASE WHEN g % 2 = 0 THEN 'tims' ELSE 'xero' END,
                       CASE WHEN g % 2 = 0 THEN 'sales_order' ELSE 'invoice' END,
                       CASE WHEN g % 2 = 0 THEN 'rec-' || (g / {EVENTS_PER_RECORD} + 1)
                            ELSE md5('inv' || (g / {EVENTS_PER_RECORD} + 1))::uuid::text END,
                       'SO-' || (g / {EVENTS_PER_RECORD} + 1), {flow.pk}, g / {EVENTS_PER_RUN} + 1,
                       CASE WHEN g % 2 = 1 THEN g / {EVENTS_PER_RECORD} + 1 END,
                       jsonb_build_object('reason', 'unchanged'),
                       CASE WHEN g % 2 = 1 THEN jsonb_build_object('Status', 'AUTHORISED') END,
                       CASE WHEN g % 2 = 1 THEN jsonb_build_object('Status', 'PAID') END,
                       md5(g::text)::uuid
                FROM generate_series({start}, {stop - 1}) AS g""")
        # One GET per invoice of a tenth of the records, in the run of its first event.
        cursor.execute(f"""
            INSERT INTO integrations_apicall (connection_id, run_id, method, path, status_code, duration_ms, attempt,
              idempotency_key, request_id, error_class, error, started_at)
            SELECT {xero.pk}, ((g - 1) * {EVENTS_PER_RECORD}) / {EVENTS_PER_RUN} + 1, 'GET',
                   '/api.xro/2.0/Invoices/' || md5('inv' || g)::uuid::text, 200, 80, 1, '', '', '', '',
                   now() - (({records} - g) * interval '90 days') / {records}
            FROM generate_series(1, {records}, 10) AS g""")
    timings["events and calls"] = clock.seconds
    with connection.cursor() as cursor, Stopwatch() as clock:
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for statement in dropped:
            cursor.execute(statement)
        for table in ("integrations_auditevent", "integrations_apicall", "integrations_recordlink",
                      "integrations_syncrun"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    timings["indexes and vacuum"] = clock.seconds
    return {"auditor": auditor, "records": records, "timings": timings}


def _explain(sql: str) -> str:
    """The first plan nodes of a captured query (its SQL as Django logged it, values inlined)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        nodes = [row[0].strip().lstrip("-> ").split("  (")[0] for row in cursor.fetchall() if "cost=" in row[0]]
    return " / ".join(nodes[:4])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=40, help="records looked at")
    args = parser.parse_args()
    database = setup_django()
    from django.db import connection
    from django.test import Client

    from integrations.models import AuditEvent
    from integrations.services.timeline import record_timeline, timeline_url

    if connection.vendor != "postgresql":
        print("This benchmark needs PostgreSQL: set DATABASE_URL.")
        return
    seeded = fill(events=args.events)
    client = Client()
    client.force_login(seeded["auditor"])
    picker = random.Random(7)
    samples, sizes = [], []
    for index in range(args.repeat + 1):
        record = picker.randint(1, seeded["records"])
        url = timeline_url(system="tims", object_type="sales_order", object_id=f"rec-{record}")
        start = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - start) * 1000
        if index:  # the first request warms the caches, as a working portal has them
            samples.append(elapsed)
            sizes.append(response.content.count(b'<li class="tone-'))
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]
    # The service alone (the queries), without the page around it.
    service, queries = [], []
    from django.test.utils import CaptureQueriesContext

    for _ in range(args.repeat):
        record = picker.randint(1, seeded["records"])
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            record_timeline(system="tims", object_type="sales_order", object_id=f"rec-{record}")
            service.append((time.perf_counter() - start) * 1000)
        queries.append(len(captured))
    slowest = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))[:3]
    record = picker.randint(1, seeded["records"])
    by_object = (AuditEvent.objects.filter(object_system="tims", object_type="sales_order", object_id=f"rec-{record}")
                 .order_by("-created_at", "-id")[:51])
    by_link = AuditEvent.objects.filter(record_link_id=record).order_by("-created_at", "-id")[:51]
    report("Record timeline", [
        ("database", database),
        ("audit events", f"{args.events:,}"),
        ("records (linked order + invoice)", f"{seeded['records']:,}"),
        *[(f"seeding: {name}", f"{seconds:.1f} s") for name, seconds in seeded["timings"].items()],
        ("timeline page p50", f"{statistics.median(samples):.1f} ms"),
        ("timeline page p95", f"{p95:.1f} ms (goal <= {GOAL_P95_MS} ms)"),
        ("entries per page (median)", f"{statistics.median(sizes):.0f}"),
        ("timeline service alone p50", f"{statistics.median(service):.1f} ms, {statistics.median(queries):.0f} queries"),
        *[(f"slowest query {n + 1}", f"{float(q['time']) * 1000:.1f} ms: {_explain(q['sql'])}")
          for n, q in enumerate(slowest)],
        ("plan: events by record", _plan(by_object)),
        ("plan: events by record link", _plan(by_link)),
    ])


if __name__ == "__main__":
    main()
