"""Chaos run of the orders flow with real processes, printed as one JSON summary.

    python -m tests.integrations.engine.chaos_orders [--orders 2000] [--kills 2]

What it does, in order:
1. a dedicated database: on PostgreSQL (DATABASE_URL set) a new database beside the one
   named, dropped at the end; otherwise a temporary SQLite file; migrated;
2. the site (portal and sandboxes) served by ``manage.py runserver`` in its own process on a
   free port;
3. TIMS and Xero connections to the sandboxes, customers and products synced by their flows,
   then ``--orders`` shipped, valid sales orders written straight into the TIMS sandbox;
4. faults switched on: Xero answers 5xx, 429, slow responses and connections dropped after the
   write committed; TIMS answers 5xx, 429 and slow responses to the reads;
5. the orders flow queued and a ``qcluster`` worker started in its own process group; after
   some batches are linked the whole worker (every process of it) is killed with SIGKILL, its
   run goes stale, the reaper marks it crashed and queues a resume run, and a new worker is
   started; twice (``--kills``);
6. then runs until nothing is left: retry runs for the exceptions in ``retrying`` (their
   schedule fast-forwarded), until every order is linked or waits in the review queue;
7. the facts, read from both sides, printed as JSON on the last line of stdout (the test
   asserts on them): invoices per order number in Xero, links per order, orphan invoices,
   unresolved exceptions, runs, API calls by status.

The product's own rate budget is lifted in the worker (``--lift-budget``, the default): the
chaos is the sandbox's injected 429s, not a minute of waiting for Xero's 60 calls a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.processes import database_create, free_port, kill_group, lift_rate_budgets, start, wait_http
# The reaper here (this script, after a kill) takes a run silent for this long as dead; the
# worker's own scheduled reaper waits longer, so a slow batch under chaos is never reaped alive.
STALE_AFTER_SECONDS = 10
WORKER_STALE_AFTER_SECONDS = 120
FAULT_RETRY_AFTER = 2


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def lift_budget() -> None:
    lift_rate_budgets()


def worker_main() -> None:
    import django

    django.setup()
    lift_budget()
    from django.core.management import call_command

    call_command("qcluster")


# --- The scenario -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description="Chaos run of the orders flow")
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds for the flow to settle")
    parser.add_argument("--keep", action="store_true", help="keep the database and logs")
    parser.add_argument("worker", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "worker":
        worker_main()
        return

    # SIGTERM (the test giving up) cleans up like an error: workers, server and database go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    started = time.monotonic()
    database_url, vendor, drop = database_create("chaos")
    logs = Path(tempfile.mkdtemp(prefix="ledgerbridge-chaos-logs-"))
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SANDBOX_ENABLED": "true",
        "SANDBOX_BASE_URL": f"http://127.0.0.1:{port}/sandbox",
        "SANDBOX_FAULT_RETRY_AFTER": str(FAULT_RETRY_AFTER),
        "RUN_STALE_AFTER_SECONDS": str(STALE_AFTER_SECONDS),
        "LOG_LEVEL": "WARNING",
        "Q_WORKERS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)  # the database broker and budget: nothing shared with other tests
    os.environ.update({k: v for k, v in env.items() if k != "REDIS_URL"})
    os.environ.pop("REDIS_URL", None)
    server = None
    workers: list[subprocess.Popen] = []
    try:
        import django

        django.setup()
        from django.core.management import call_command

        lift_budget()
        call_command("migrate", verbosity=0)
        log(f"database {vendor} migrated in {time.monotonic() - started:.1f} s; logs in {logs}")
        server = start([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], env,
                       logs / "server.log")
        wait_http(f"http://127.0.0.1:{port}/sandbox/")
        facts = scenario(args, env, logs, workers)
        facts.update(database=vendor, seconds=round(time.monotonic() - started, 1))
        print(json.dumps(facts))
    finally:
        for worker in workers:
            if worker.poll() is None:
                kill_group(worker, signal.SIGKILL)
        if server is not None:
            kill_group(server, signal.SIGTERM)
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop()


def scenario(args, env, logs: Path, workers: list) -> dict:
    from django.db.models import Count, Q
    from django.utils import timezone

    from integrations.engine.pipeline import run_execute
    from integrations.mapping_templates import templates_install
    from integrations.models import (
        ApiCall, ExceptionStatus, Flow, FlowTrigger, LinkState, MappingSet, RecordLink, RunStatus, RunTrigger,
        SyncException, SyncRun,
    )
    from integrations.services.retries import exceptions_retry_due
    from integrations.services.runs import flow_run_request, run_claim, runs_reap
    from sandbox.common.faults import fault_setting_update
    from sandbox.models import XeroInvoice
    from tests.sandboxes import tims_connection, xero_connection
    from tests.tims_orders import tims_orders_bulk_create

    templates_install()
    tims, site = tims_connection("chaos", seed=1, minute_limit=100_000)
    # A short fixed window: an injected 429 says to come back when it resets (RateLimit-Reset).
    from sandbox.models import TimsApiClient
    from sandbox.tims.services import tims_client_set_limits

    tims_client_set_limits(client=TimsApiClient.objects.get(site=site), minute=100_000, window_seconds=3,
                           concurrent=None)
    xero, tenant = xero_connection("Chaos Gases Ltd")

    def flow(template: str, slug: str) -> Flow:
        mapping = MappingSet.objects.get(name=template)
        return Flow.objects.create(slug=slug, name=template, source_connection=tims, source_entity=mapping.source_entity,
                                   target_connection=xero, target_entity=mapping.target_entity, mapping_set=mapping,
                                   trigger=FlowTrigger.MANUAL, batch_size=50, enabled=True)

    for template, slug in (("TIMS customers → Xero contacts", "customers"), ("TIMS products → Xero items", "products")):
        run = run_execute(run_claim(run_id=flow_run_request(flow=flow(template, slug), trigger=RunTrigger.MANUAL,
                                                            enqueue=False).pk))
        log(f"{slug}: {run.status}, created {run.created_count}")
    orders_flow = flow("TIMS sales orders → Xero invoices", "orders")
    seeded = time.monotonic()
    numbers = tims_orders_bulk_create(site=site, count=args.orders, seed=1)
    log(f"{len(numbers)} shipped orders written in {time.monotonic() - seeded:.1f} s")

    fault_setting_update(system="xero", tenant_key=str(tenant.tenant_id), seed=7, error_rate=0.08, error_status=503,
                         rate_limit_rate=0.05, slow_rate=0.15, slow_ms=400, drop_rate=0.15)
    fault_setting_update(system="tims", tenant_key=site.code, seed=11, error_rate=0.05, error_status=500,
                         rate_limit_rate=0.04, slow_rate=0.1, slow_ms=200)

    links = RecordLink.objects.filter(source_connection=tims, source_type="sales_order", target_connection=xero)
    worker_args = [sys.executable, "-m", "tests.integrations.engine.chaos_orders", "worker"]

    def start_worker() -> subprocess.Popen:
        process = start(worker_args, {**env, "RUN_STALE_AFTER_SECONDS": str(WORKER_STALE_AFTER_SECONDS)}, logs / f"worker-{len(workers) + 1}.log")
        workers.append(process)
        return process

    def active_run() -> SyncRun | None:
        return SyncRun.objects.filter(flow=orders_flow, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).first()

    def check_worker(worker: subprocess.Popen) -> None:
        """Fail fast, with the reason, when the worker died by itself or a task raised."""
        from django_q.models import Failure

        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited by itself ({worker.returncode}): see {logs}")
        failed = Failure.objects.order_by("-stopped").first()
        if failed is not None:
            raise RuntimeError(f"a worker task failed: {failed.func}\n{str(failed.result)[-3000:]}")
        broken = SyncRun.objects.filter(flow=orders_flow, status=RunStatus.FAILED).first()
        if broken is not None:
            raise RuntimeError(f"run {broken.pk} failed: {broken.error_message}")

    first = flow_run_request(flow=orders_flow, trigger=RunTrigger.MANUAL)
    assert first is not None
    flow_started = time.monotonic()
    deadline = flow_started + args.timeout
    worker = start_worker()
    kills = []
    for kill in range(args.kills):
        # Kill once this many more orders are linked: mid-run, batches committed before and after.
        target = links.filter(state=LinkState.LINKED).count() + max(100, args.orders // (args.kills + 2))
        while links.filter(state=LinkState.LINKED).count() < target:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no progress before kill {kill + 1}: see {logs}")
            check_worker(worker)
            time.sleep(0.1)
        time.sleep(0.3 + 0.4 * kill)  # land inside a batch, not on its boundary
        kill_group(worker, signal.SIGKILL)
        running = SyncRun.objects.filter(flow=orders_flow, status=RunStatus.RUNNING).first()
        linked = links.filter(state=LinkState.LINKED).count()
        in_flight = links.filter(state__in=[LinkState.PENDING, LinkState.UNKNOWN_OUTCOME], last_run__isnull=False).count()
        log(f"kill {kill + 1}: worker SIGKILLed with {linked} linked, {in_flight} in flight, run {running and running.pk}")
        # The killed run's heartbeat goes stale; the reaper marks it crashed and queues a resume.
        time.sleep(STALE_AFTER_SECONDS + 0.5)
        reaped = runs_reap()
        kills.append({"linked": linked, "in_flight": in_flight, "reaped": [r.pk for r in reaped]})
        log(f"reaped {[r.pk for r in reaped]}; starting a new worker")
        worker = start_worker()

    # Run to the end: the resume run, then retry runs for what failed transiently.
    retry_rounds = 0
    while True:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the flow did not settle in {args.timeout:.0f} s: see {logs}")
        check_worker(worker)
        if active_run() is not None:
            time.sleep(0.3)
            continue
        retrying = SyncException.objects.filter(flow=orders_flow, status=ExceptionStatus.RETRYING)
        if retrying.exists():
            # The schedule (1 min, 5 min, ...) fast-forwarded: due now.
            retrying.update(next_attempt_at=timezone.now())
            retry_rounds += 1
            exceptions_retry_due()
            continue
        break
    flow_seconds = time.monotonic() - flow_started
    kill_group(worker, signal.SIGTERM)
    log(f"settled in {flow_seconds:.1f} s after {retry_rounds} retry rounds")

    # --- The facts, from both sides -------------------------------------------------------------
    ours = set(numbers)
    invoices = list(XeroInvoice.objects.filter(tenant=tenant, type="ACCREC").values_list("invoice_id", "invoice_number"))
    per_number: dict[str, int] = {}
    for _, number in invoices:
        per_number[number.upper()] = per_number.get(number.upper(), 0) + 1
    by_id = {str(invoice_id): number for invoice_id, number in invoices}
    from sandbox.models import TimsSalesOrder

    id_to_number = dict(TimsSalesOrder.objects.filter(site=site).values_list("id", "order_number"))
    link_rows = list(links.values_list("source_id", "state", "target_id"))
    links_per_order: dict[str, int] = {}
    for source_id, _, _ in link_rows:
        number = id_to_number.get(source_id, source_id)
        links_per_order[number] = links_per_order.get(number, 0) + 1
    linked = {id_to_number[s]: str(t) for s, state, t in link_rows if state == LinkState.LINKED}
    wrong_target = sorted(n for n, t in linked.items() if by_id.get(t, "").upper() != n.upper())
    linked_targets = set(linked.values())
    orphans = sorted(n for i, n in by_id.items() if i not in linked_targets)
    unresolved = {
        id_to_number.get(e["record_id"], e["record_id"]): e
        for e in SyncException.objects.filter(flow=orders_flow, status__in=[ExceptionStatus.OPEN, ExceptionStatus.RETRYING])
        .values("record_id", "status", "error_class", "code", "message")
    }
    not_landed = sorted(ours - set(linked))
    calls = ApiCall.objects.filter(connection=xero, run__flow=orders_flow)
    tims_calls = ApiCall.objects.filter(connection=tims, run__flow=orders_flow)
    runs = list(SyncRun.objects.filter(flow=orders_flow).order_by("pk").values(
        "pk", "trigger", "status", "read_count", "created_count", "failed_count"))
    return {
        "orders": len(ours),
        "xero_invoices": len(invoices),
        "xero_invoices_for_orders": sum(1 for _, n in invoices if n in ours),
        "numbers_twice": sorted(n for n, c in per_number.items() if c > 1),
        "orders_missing_in_xero": sorted(n for n in ours if n.upper() not in per_number),
        "links": len(link_rows),
        "orders_linked": len(linked),
        "orders_with_several_links": sorted(n for n, c in links_per_order.items() if c > 1),
        "links_to_wrong_invoice": wrong_target,
        "orphan_invoices": orphans,
        "not_landed": not_landed,
        "not_landed_without_exception": sorted(n for n in not_landed if not (unresolved.get(n) or {}).get("message")),
        "unresolved_exceptions": {n: {k: e[k] for k in ("status", "error_class", "code", "message")}
                                  for n, e in sorted(unresolved.items())},
        "kills": kills,
        "retry_rounds": retry_rounds,
        "flow_seconds": round(flow_seconds, 1),
        "runs": runs,
        "crashed_runs": sum(1 for r in runs if r["status"] == RunStatus.CRASHED),
        "xero_calls": calls.count(),
        "xero_writes": calls.filter(method__in=["PUT", "POST"]).count(),
        "xero_5xx": calls.filter(status_code__gte=500).count(),
        "xero_429": calls.filter(status_code=429).count(),
        "xero_dropped": calls.filter(method__in=["PUT", "POST"], status_code__isnull=True).count(),
        "tims_calls": tims_calls.count(),
        "tims_5xx": tims_calls.filter(status_code__gte=500).count(),
        "tims_429": tims_calls.filter(status_code=429).count(),
        "calls_by_status": {str(r["status_code"]): r["n"] for r in calls.values("status_code").annotate(n=Count("id"))},
        "exceptions_by_class": {r["error_class"]: r["n"] for r in SyncException.objects.filter(flow=orders_flow)
                                .values("error_class").annotate(n=Count("id"))},
        "auto_resolved": SyncException.objects.filter(flow=orders_flow).filter(~Q(status__in=[
            ExceptionStatus.OPEN, ExceptionStatus.RETRYING])).count(),
    }


if __name__ == "__main__":
    main()
