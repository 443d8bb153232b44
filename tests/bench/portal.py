"""Portal benchmark: the review queue and the auditor views at a million exceptions and five
million audit events, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m tests.bench.portal [--repeat 30]

Creates its own throwaway database beside the one named (dropped at the end), fills it with
``INSERT ... SELECT generate_series`` (seconds, not an ORM loop), ``VACUUM ANALYZE``s it, then
times requests through Django's test client, signed in as a finance user, and prints p50/p95
per page beside the goal (p95 <= 250 ms), the plans PostgreSQL chose for the queue's queries,
and the CSV export's rate (rows/s) and the peak RSS of this process while it streams.
It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

from tests.bench.harness import Sampler, Stopwatch, report, setup_django

GOAL_P95_MS = 250
FLOWS = 8
USERS = 10
CODES = [
    # (code, class, stage, weight)
    ("xero.validation.account_code", "validation", "validate", 30),
    ("mapping.value_map.missing", "mapping", "transform", 20),
    ("xero.validation.tax_type", "validation", "validate", 12),
    ("xero.transient", "transient", "load", 10),
    ("xero.rate_limited", "rate_limited", "load", 6),
    ("validation.contact_missing", "validation", "validate", 6),
    ("xero.validation.due_date", "validation", "validate", 4),
    ("tims.not_found", "not_found", "extract", 4),
    ("xero.conflict.updated_elsewhere", "conflict", "load", 3),
    ("master_data.possible_duplicate", "duplicate", "load", 2),
    ("mapping.target_shape", "mapping", "validate", 2),
    ("anomaly.amount_outlier", "anomaly", "validate", 1),
]
ACTIONS = ["record.created", "record.updated", "record.unchanged", "record.failed", "exception.opened",
           "exception.retried", "exception.auto_resolved", "run.started", "run.finished", "record.skipped"]


def _codes_sql() -> tuple[str, str, str]:
    """SQL arrays of code, class and stage, each code repeated by its weight (a skewed mix)."""
    codes, classes, stages = [], [], []
    for code, error_class, stage, weight in CODES:
        codes += [code] * weight
        classes += [error_class] * weight
        stages += [stage] * weight
    quote = lambda values: "ARRAY[" + ",".join(f"'{v}'" for v in values) + "]"  # noqa: E731
    return quote(codes), quote(classes), quote(stages)


def fill(*, exceptions: int, events: int, open_share: float) -> dict[str, Any]:
    """Connections, flows, people, then the exceptions and audit events in bulk SQL."""
    from django.contrib.auth.models import Group, User
    from django.db import connection

    from integrations.models import AuthKind, Connection, Flow, System
    from integrations.roles import FINANCE

    tims = Connection.objects.create(name="TIMS bench", system=System.TIMS, auth_kind=AuthKind.OAUTH2_CLIENT_CREDENTIALS,
                                     tenant_id="bench")
    xero = Connection.objects.create(name="Xero bench", system=System.XERO, auth_kind=AuthKind.OAUTH2_AUTHORIZATION_CODE,
                                     tenant_id="bench-xero")
    entities = [("sales_order", "invoice"), ("customer", "contact"), ("product", "item"), ("payment", "payment"),
                ("vendor_bill", "invoice"), ("vendor", "contact"), ("stock_adjustment", "manual_journal"),
                ("gl_entry", "manual_journal")]
    flows = [Flow.objects.create(slug=f"bench-{n}", name=f"Bench {source} → {target}", source_connection=tims,
                                 source_entity=source, target_connection=xero, target_entity=target)
             for n, (source, target) in enumerate(entities[:FLOWS])]
    finance = Group.objects.get(name=FINANCE)
    people = []
    for n in range(USERS):
        user = User.objects.create_user(f"finance{n}", is_staff=True)
        user.groups.add(finance)
        people.append(user)
    flow_ids = "ARRAY[" + ",".join(str(f.pk) for f in flows) + "]"
    user_ids = "ARRAY[" + ",".join(str(u.pk) for u in people) + "]"
    entity_types = "ARRAY[" + ",".join(f"'{source}'" for source, _ in entities[:FLOWS]) + "]"
    codes, classes, stages = _codes_sql()
    weight = sum(w for *_, w in CODES)
    open_cut = int(open_share * 1000)
    timings = {}
    # Bulk loading as pg_restore does it: the secondary indexes are dropped before the inserts
    # and built once after them, which is several times faster than maintaining each per row.
    dropped = _indexes_drop(["integrations_syncexception", "integrations_auditevent"])
    with connection.cursor() as cursor, Stopwatch() as clock:
        # Record g belongs to flow g % FLOWS; its exception is open for the first open_share of
        # each thousand (retrying for a tenth of those), else closed; a third are assigned.
        cursor.execute(f"""
            INSERT INTO integrations_syncexception
              (flow_id, record_type, record_id, record_ref, stage, error_class, code, message, source_payload,
               transformed_payload, attempts, next_attempt_at, status, assignee_id, resolution_note, created_at,
               updated_at, resolved_at)
            SELECT ({flow_ids})[1 + g % {FLOWS}],
                   ({entity_types})[1 + g % {FLOWS}],
                   'rec-' || g, 'REF-' || lpad(g::text, 7, '0'),
                   ({stages})[1 + (g * 7) % {weight}], ({classes})[1 + (g * 7) % {weight}],
                   ({codes})[1 + (g * 7) % {weight}],
                   'The account code 2999 does not exist in the organisation''s chart of accounts.',
                   jsonb_build_object('number', 'REF-' || g, 'customer_code', 'CUST-' || (g % 5000)),
                   jsonb_build_object('number', 'REF-' || g, 'lines',
                       jsonb_build_array(jsonb_build_object('account_code', '2999', 'unit_amount', '10.00'))),
                   1 + g % 4,
                   CASE WHEN g % 1000 < {open_cut} AND g % 10 = 0 THEN now() + interval '5 minutes' END,
                   CASE WHEN g % 1000 >= {open_cut} THEN (ARRAY['resolved','auto_resolved','auto_resolved','ignored'])[1 + g % 4]
                        WHEN g % 10 = 0 THEN 'retrying' ELSE 'open' END,
                   CASE WHEN g % 3 = 0 THEN ({user_ids})[1 + (g / 3) % {USERS}] END,
                   '',
                   now() - (g * interval '90 days') / {exceptions},
                   now() - (g * interval '90 days') / {exceptions},
                   CASE WHEN g % 1000 >= {open_cut} THEN now() - (g * interval '90 days') / {exceptions} + interval '1 hour' END
            FROM generate_series(1, {exceptions}) AS g""")
    timings["exceptions"] = clock.seconds
    actions = "ARRAY[" + ",".join(f"'{a}'" for a in ACTIONS) + "]"
    per_record = max(1, events // exceptions)
    with connection.cursor() as cursor, Stopwatch() as clock:
        step = 1_000_000
        for start in range(0, events, step):
            stop = min(events, start + step)
            # Event g concerns record g / per_record (so each record has per_record events),
            # belongs to run g / 1000, and a tenth are a person's.
            cursor.execute(f"""
                INSERT INTO integrations_auditevent
                  (created_at, actor_id, actor_label, source, action, object_system, object_type, object_id,
                   object_ref, flow_id, run_id, data, correlation_id)
                SELECT now() - (g * interval '90 days') / {events},
                       CASE WHEN g % 10 = 0 THEN ({user_ids})[1 + g % {USERS}] END,
                       CASE WHEN g % 10 = 0 THEN 'finance' || (g % {USERS}) ELSE '' END,
                       CASE WHEN g % 10 = 0 THEN 'ui' ELSE 'worker' END,
                       ({actions})[1 + g % {len(ACTIONS)}],
                       'tims', ({entity_types})[1 + (g / {per_record}) % {FLOWS}],
                       'rec-' || (g / {per_record}), 'REF-' || lpad((g / {per_record})::text, 7, '0'),
                       ({flow_ids})[1 + (g / {per_record}) % {FLOWS}], g / 1000,
                       jsonb_build_object('message', 'Account code 2999 is unknown', 'attempt', 1 + g % 3),
                       md5(g::text)::uuid
                FROM generate_series({start + 1}, {stop}) AS g""")
    timings["events"] = clock.seconds
    with connection.cursor() as cursor, Stopwatch() as clock:
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for statement in dropped:
            cursor.execute(statement)
    timings["indexes"] = clock.seconds
    with connection.cursor() as cursor, Stopwatch() as clock:
        for table in ("integrations_syncexception", "integrations_auditevent"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    timings["vacuum"] = clock.seconds
    return {"flows": flows, "people": people, "timings": timings, "per_record": per_record}


def _indexes_drop(tables: list[str]) -> list[str]:
    """Drop the tables' secondary indexes (not the primary keys or unique constraints); returns
    the statements that create them again."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
            WHERE t.relname = ANY(%s) AND NOT i.indisprimary
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""", [tables])
        found = cursor.fetchall()
        for name, _ in found:
            cursor.execute(f"DROP INDEX {name}")
    return [definition for _, definition in found]


def _timed(client: Any, url: str, params: dict[str, Any], repeat: int) -> tuple[float, float, int, int]:
    samples = []
    status = size = 0
    client.get(url, params)  # warm the caches once, as a working portal has them
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url, params)
        samples.append((time.perf_counter() - start) * 1000)
        status, size = response.status_code, len(response.content)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]
    return statistics.median(samples), p95, status, size


def _plan(queryset: Any) -> str:
    """PostgreSQL's plan of a queryset, its nodes on one line (index or sequential scans)."""
    from django.db import connection

    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS OFF, TIMING OFF, SUMMARY ON) {sql}", params)
        lines = [row[0] for row in cursor.fetchall()]
    nodes = [line.strip().lstrip("-> ").split("  (")[0] for line in lines if "cost=" in line]
    total = next((line for line in lines if line.startswith("Execution Time")), "")
    return " / ".join(nodes[:4]) + f"  [{total.replace('Execution Time: ', '')}]"


class RssSampler(Sampler):
    """The process's resident memory, sampled every 20 ms from /proc (peak, in MB)."""

    interval = 0.02

    def __init__(self) -> None:
        super().__init__()
        self.peak = self.baseline = self._rss()

    @staticmethod
    def _rss() -> float:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def sample(self) -> None:
        self.peak = max(self.peak, self._rss())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exceptions", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--open-share", type=float, default=0.6, help="the share of exceptions still open")
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per page")
    parser.add_argument("--queries", action="store_true", help="print each page's slowest queries")
    parser.add_argument("--export-days", type=float, default=18,
                        help="the export's time range, in days of the 90 the events span")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        sys.exit("The portal benchmark needs PostgreSQL: set DATABASE_URL=postgres://... (a throwaway database "
                 "is created beside it and dropped at the end).")
    os.environ.setdefault("DEBUG", "true")
    database = setup_django()

    from datetime import timedelta

    from django.db import connection, reset_queries
    from django.test import Client
    from django.urls import NoReverseMatch, reverse
    from django.utils import timezone

    from integrations.models import AuditEvent, OpenException, SyncException

    print(f"Portal benchmark on {database}: {args.exceptions:,} exceptions, {args.events:,} audit events")
    data = fill(exceptions=args.exceptions, events=args.events, open_share=args.open_share)
    open_count = OpenException.objects.count()
    report("Fill (INSERT ... SELECT generate_series, then VACUUM ANALYZE)", [
        ("exceptions", f"{args.exceptions:,} in {data['timings']['exceptions']:.1f} s ({open_count:,} open)"),
        ("audit events", f"{args.events:,} in {data['timings']['events']:.1f} s"),
        ("indexes built after", f"{data['timings']['indexes']:.1f} s"),
        ("vacuum analyze", f"{data['timings']['vacuum']:.1f} s"),
    ])

    finance, other = data["people"][0], data["people"][1]
    client = Client()
    client.force_login(finance)
    flow = data["flows"][0]
    queue = reverse("admin:integrations_openexception_changelist")
    record = SyncException.objects.filter(flow=flow, status="open").order_by("-created_at").first()
    now = timezone.now()
    day = {"since": (now - timedelta(days=31)).strftime("%Y-%m-%dT%H:%M"),
           "until": (now - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")}
    by_record = {"system": "tims", "object_type": record.record_type, "object_id": record.record_id}
    trail = reverse("integrations:audit_trail")
    pages: list[tuple[str, str, dict[str, Any]]] = [
        ("queue, unfiltered", queue, {}),
        ("queue, page 20", queue, {"p": 20}),
        ("queue, flow + code", queue, {"flow__id__exact": flow.pk, "code": "xero.validation.tax_type"}),
        ("queue, assignee", queue, {"assignee": other.pk}),
        ("queue, mine", queue, {"assignee": "mine"}),
        ("queue, unassigned, 1-7 days", queue, {"assignee": "none", "age": "7d"}),
        ("queue, connection + class", queue, {"connection": flow.source_connection_id, "error_class__exact": "transient"}),
        ("resolved, unfiltered", reverse("admin:integrations_resolvedexception_changelist"), {}),
        ("one exception", reverse("admin:integrations_openexception_change", args=[record.pk]), {}),
        ("edit and retry page", reverse("integrations:exception_edit", args=[record.pk]), {}),
    ]
    try:
        timeline = reverse("integrations:timeline")
        pages.append(("record timeline", timeline, {"system": "tims", "type": record.record_type,
                                                    "id": record.record_id}))
    except NoReverseMatch:
        print("The record timeline page is not there yet: the audit trail by record stands in for it.")
    pages += [
        ("audit trail, by record", trail, by_record),
        ("audit trail, one day", trail, day),
        ("audit trail, by run", trail, {"run": 2500}),
        ("audit trail, by user", trail, {"user": "finance3"}),
        ("audit trail, unfiltered", trail, {}),
        ("audit events admin", reverse("admin:integrations_auditevent_changelist"), {}),
    ]
    rows = []
    worst = 0.0
    for label, url, params in pages:
        reset_queries()
        p50, p95, status, size = _timed(client, url, params, args.repeat)
        worst = max(worst, p95)
        flag = "" if p95 <= GOAL_P95_MS else "  over the goal"
        rows.append((label, f"p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   HTTP {status}, {size / 1024:.0f} KB{flag}"))
        if args.queries:
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as captured:
                client.get(url, params)
            slowest = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))[:3]
            print(f"{label}: {len(captured)} queries; slowest:")
            for query in slowest:
                print(f"   {float(query['time']) * 1000:7.1f} ms  {query['sql'][:300]}")
    report(f"Requests ({args.repeat} each after one warm-up; goal p95 <= {GOAL_P95_MS} ms)", rows)

    open_queue = OpenException.objects.order_by("-created_at", "-id")
    report("Plans (EXPLAIN ANALYZE of each page's main query)", [
        ("queue page", _plan(open_queue[:51])),
        ("queue flow + code", _plan(open_queue.filter(flow=flow, code="xero.validation.tax_type")[:51])),
        ("queue assignee", _plan(open_queue.filter(assignee=other)[:51])),
        ("queue bounded count", _plan(open_queue.order_by()[:1001].values("pk"))),
        ("trail by record", _plan(AuditEvent.objects.filter(
            object_system="tims", object_type=record.record_type, object_id=record.record_id)
            .order_by("-created_at", "-id")[:51])),
        ("trail one day", _plan(AuditEvent.objects.filter(
            created_at__gte=now - timedelta(days=31), created_at__lte=now - timedelta(days=30))
            .order_by("-created_at", "-id")[:51])),
    ])

    export_params = {"since": (now - timedelta(days=args.export_days)).strftime("%Y-%m-%dT%H:%M")}
    expected = AuditEvent.objects.filter(created_at__gte=now - timedelta(days=args.export_days)).count()
    with RssSampler() as rss, Stopwatch() as clock:
        response = client.get(reverse("integrations:audit_export"), export_params)
        lines = size = 0
        for chunk in response.streaming_content:
            lines += chunk.count(b"\n")
            size += len(chunk)
    exported = lines - 1
    report("CSV export (streamed through the test client)", [
        ("rows", f"{exported:,} (the filter holds {expected:,}) in {clock.seconds:.1f} s"),
        ("rate", f"{exported / clock.seconds:,.0f} rows/s, {size / clock.seconds / 1e6:.1f} MB/s"),
        ("peak RSS while exporting", f"{rss.peak:.0f} MB (before: {rss.baseline:.0f} MB, "
                                     f"+{rss.peak - rss.baseline:.0f} MB for {size / 1e6:.0f} MB of CSV)"),
    ])
    print(f"\nWorst p95: {worst:.1f} ms (goal {GOAL_P95_MS} ms)")
    connection.close()


if __name__ == "__main__":
    main()
