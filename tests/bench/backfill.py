"""Backfill benchmark: ``--orders`` shipped TIMS sales orders to Xero invoices through the
orders flow, with the sandboxes' limits and the product's own rate budgets lifted (the figure
is the engine's, not Xero's 60 calls a minute), and print records/s, Xero calls per invoice and
the worker's peak RSS beside the goals.

    python -m tests.bench.backfill [--orders 10000]

The site (portal and sandboxes) is served as in production, by gunicorn (threaded workers, one
more process than the machine has cores: ``--server-workers``), with production settings (DEBUG
off); ``--server runserver`` serves it from ``manage.py runserver``'s single process instead,
whose one interpreter lock then serialises the Xero and TIMS emulators' work. The
flow runs in another (``manage.py run_flow orders``), whose peak RSS (its lane processes included) is the one reported. The
orders are written straight into the sandbox's tables (tests/tims_orders.py): the point is the
product, not the seeding. PostgreSQL when DATABASE_URL is set (a dedicated database, dropped at
the end), SQLite otherwise.

``--profile FILE`` samples the flow's worker with py-spy (``pip install py-spy``; not a
requirement of the project) into FILE (``--profile-format raw`` for collapsed stacks);
``--profile-server FILE`` samples the sandbox server the same way (all its processes); ``--profile-gil`` samples only
threads holding the GIL, so the profile shows CPU spent in Python rather than waits.

Goals: >= 1,000 records/s; <= 1/45 Xero calls per invoice; peak RSS <= 300 MB at 100,000 orders.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.bench.harness import Sampler, report
from tests.processes import (
    database_create, free_port, gunicorn_command, kill_group, lift_rate_budgets, production_settings, start, wait_http,
)

GOAL_RECORDS_PER_SECOND = 1000
GOAL_CALLS_PER_INVOICE = 1 / 45
GOAL_PEAK_RSS_MB = 300


def worker_main() -> None:
    """The flow in this process, as ``manage.py run_flow orders`` runs it, budgets lifted."""
    import django

    django.setup()
    lift_rate_budgets()
    from django.core.management import call_command

    call_command("run_flow", "orders")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=50, help="the flow's batch size (Xero takes 50 per call)")
    parser.add_argument("--profile", help="profile the flow's worker with py-spy into this file")
    parser.add_argument("--profile-server", help="profile the sandbox server with py-spy into this file")
    parser.add_argument("--profile-format", default="speedscope", help="py-spy's output format (speedscope, flamegraph, raw)")
    parser.add_argument("--profile-gil", action="store_true",
                        help="sample only threads holding the GIL (py-spy --gil): CPU spent in Python, not waits")
    parser.add_argument("--server", choices=["gunicorn", "runserver"], default="gunicorn",
                        help="what serves the site and its sandboxes (default gunicorn, as in production)")
    parser.add_argument("--server-workers", type=int, default=(os.cpu_count() or 1) + 1,
                        help="gunicorn's worker processes (default: the cores + 1)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main()
        return

    database_url, vendor, drop = database_create("backfill")
    logs = Path(tempfile.mkdtemp(prefix="ledgerbridge-backfill-"))
    port = free_port()
    os.environ.pop("REDIS_URL", None)
    os.environ.update({
        "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "config.settings", "SANDBOX_ENABLED": "true",
        "SANDBOX_BASE_URL": f"http://127.0.0.1:{port}/sandbox", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
        **production_settings(),
    })
    env = dict(os.environ)
    server = None
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        lift_rate_budgets()
        if args.server == "gunicorn":
            server = start(gunicorn_command(port, args.server_workers), env, logs / "server.log")
        else:
            server = start([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"],
                           env, logs / "server.log")
        wait_http(f"http://127.0.0.1:{port}/sandbox/")
        run_benchmark(args, env, logs, vendor, server.pid)
    finally:
        if server is not None:
            import signal

            kill_group(server, signal.SIGTERM)
        from django.db import connections

        connections.close_all()
        drop()


def _py_spy() -> str:
    """py-spy beside this interpreter (a virtual environment's bin), else on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else "py-spy"


def _stat_cpu_seconds(text: str) -> float:
    """User + system CPU time from the text of a /proc/<pid>/stat file."""
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Processes already seen not to be PostgreSQL's: a sample reads the stat file of each of the
# machine's processes only once, then PostgreSQL's alone (the sampler's own CPU is the machine's
# too, taken from what it measures).
_OTHERS: set[int] = set()


def _postgres_cpu() -> dict[int, float]:
    """CPU time so far of each of this machine's live PostgreSQL server processes (Linux /proc)."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in _OTHERS:
            continue
        try:
            with open(f"/proc/{name}/stat") as stat:
                text = stat.read()
        except OSError:
            continue
        if "(postgres)" in text:
            found[int(name)] = _stat_cpu_seconds(text)
        else:
            _OTHERS.add(int(name))
    return found


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process so far (Linux /proc)."""
    return _stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())


def _tree_cpu_seconds(pid: int) -> float:
    """CPU time so far of a live process and its descendants (a server's workers, which live
    as long as it does)."""
    total = 0.0
    for member in _tree(pid):
        try:
            total += _cpu_seconds(member)
        except OSError:
            continue  # it ended meanwhile
    return total


def _tree(pid: int) -> Iterator[int]:
    """A live process and all its descendants (Linux /proc)."""
    todo = [pid]
    while todo:
        current = todo.pop()
        yield current
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue  # it ended meanwhile


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a live process in kB; PSS shares each page among the processes mapping it."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        values[key] = int(rest.split()[0])
    return values.get("Rss", 0), values.get("Pss", 0)


class TreeUsage(Sampler):
    """A process tree sampled every half second while the block runs: the peak of its summed memory
    (RSS, which counts a page shared by forked processes once in each, and PSS, which divides
    it among them) and the CPU time of every process seen in it (up to its last sample: a
    process's CPU after its last sample is missed). A worker's lane processes are forked by a
    fork server and reaped by it, so the worker's own rusage has neither.

    Sampling takes CPU from what it measures (reading the memory maps of every process of the
    tree): every 0.2 s, with every process's stat file read each time, it cost about 8 % of a
    core during the 10,000-order run. The worker's memory rises and levels off over seconds,
    so a half-second sample still sees its peak."""

    interval = 0.5

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid
        self.rss_mb = self.pss_mb = 0.0
        self.cpu: dict[int, float] = {}
        # PostgreSQL's processes too: a lane's backend ends with the lane, before the run does.
        self.postgres_before = _postgres_cpu()
        self.postgres: dict[int, float] = dict(self.postgres_before)

    def postgres_cpu(self) -> float:
        """PostgreSQL's CPU time since the block began (up to each backend's last sample)."""
        self.postgres.update(_postgres_cpu())
        return sum(cpu - self.postgres_before.get(pid, 0.0) for pid, cpu in self.postgres.items())

    def sample(self) -> None:
        rss = pss = 0
        for pid in _tree(self.pid):
            try:
                memory = _memory_kb(pid)
                self.cpu[pid] = _cpu_seconds(pid)
            except (OSError, ValueError):
                continue
            rss, pss = rss + memory[0], pss + memory[1]
        self.rss_mb, self.pss_mb = max(self.rss_mb, rss / 1024), max(self.pss_mb, pss / 1024)
        self.postgres.update(_postgres_cpu())


def _server_label(args) -> str:
    if args.server == "gunicorn":
        return f"gunicorn, {args.server_workers} worker processes"
    return "manage.py runserver, one process"


def run_benchmark(args, env: dict[str, str], logs: Path, vendor: str, server_pid: int) -> None:
    from integrations.engine.pipeline import run_execute
    from integrations.mapping_templates import templates_install
    from django.db.models import Count, Min

    from integrations.models import ApiCall, Flow, FlowTrigger, MappingSet, RunTrigger, SyncException, SyncRun
    from integrations.services.runs import flow_run_request, run_claim
    from sandbox.models import TimsApiClient, XeroApp, XeroInvoice
    from sandbox.tims.services import tims_client_set_limits
    from tests.sandboxes import tims_connection, xero_connection
    from tests.tims_orders import tims_orders_bulk_create

    templates_install()
    tims, site = tims_connection("bench", seed=1, minute_limit=10_000_000)
    tims_client_set_limits(client=TimsApiClient.objects.get(site=site), minute=10_000_000, concurrent=None)
    xero, tenant = xero_connection("Backfill Gases Ltd")  # tenant limits off
    XeroApp.objects.update(app_minute_limit=None)

    def flow(template: str, slug: str, batch: int = 50) -> Flow:
        mapping = MappingSet.objects.get(name=template)
        return Flow.objects.create(slug=slug, name=template, source_connection=tims, source_entity=mapping.source_entity,
                                   target_connection=xero, target_entity=mapping.target_entity, mapping_set=mapping,
                                   trigger=FlowTrigger.MANUAL, batch_size=batch, enabled=True)

    for template, slug in (("TIMS customers → Xero contacts", "customers"), ("TIMS products → Xero items", "products")):
        run_execute(run_claim(run_id=flow_run_request(flow=flow(template, slug), trigger=RunTrigger.MANUAL,
                                                      enqueue=False).pk))
    orders_flow = flow("TIMS sales orders → Xero invoices", "orders", args.batch)
    seeding = time.perf_counter()
    tims_orders_bulk_create(site=site, count=args.orders, seed=1)
    seeding = time.perf_counter() - seeding
    print(f"{args.orders:,} orders written into the TIMS sandbox in {seeding:.1f} s; running the flow...", flush=True)

    command = [sys.executable, "-m", "tests.bench.backfill", "--worker"]
    sampling = ["--gil"] if args.profile_gil else []
    if args.profile:
        # py-spy samples the worker (and only it) and writes a flame graph and a top-style table.
        command = [_py_spy(), "record", "--subprocesses", *sampling, "--format", args.profile_format, "-o", args.profile, "--", *command]
    server_cpu_before = _tree_cpu_seconds(server_pid)
    server_profiler = None
    if args.profile_server:
        server_profiler = start([_py_spy(), "record", "--subprocesses", *sampling, "--format", args.profile_format, "-o", args.profile_server,
                                 "--pid", str(server_pid)], env, logs / "server-profile.log")
    worker = start(command, env, logs / "worker.log")
    started = time.perf_counter()
    with TreeUsage(worker.pid) as tree:
        _, status, usage = os.wait4(worker.pid, 0)
    wall = time.perf_counter() - started
    server_cpu = _tree_cpu_seconds(server_pid) - server_cpu_before
    postgres_cpu = tree.postgres_cpu()
    if server_profiler is not None:
        import signal

        server_profiler.send_signal(signal.SIGINT)  # py-spy writes its file on interrupt
        server_profiler.wait(timeout=60)
    # The worker's own CPU (exact) and its lane processes' and fork server's (sampled).
    worker_cpu = usage.ru_utime + usage.ru_stime + sum(cpu for pid, cpu in tree.cpu.items() if pid != worker.pid)
    worker.returncode = os.waitstatus_to_exitcode(status)
    output = (logs / "worker.log").read_text()
    if worker.returncode != 0:
        raise SystemExit(f"the flow's worker failed ({worker.returncode}):\n{output[-4000:]}")

    run = SyncRun.objects.filter(flow=orders_flow).order_by("-pk").first()
    run_seconds = (run.finished_at - run.started_at).total_seconds()
    calls = ApiCall.objects.filter(run=run)
    xero_calls = calls.filter(connection=xero).count()
    xero_writes = calls.filter(connection=xero, method__in=["PUT", "POST"]).count()
    tims_calls = calls.filter(connection=tims).count()
    invoices = XeroInvoice.objects.filter(tenant=tenant, type="ACCREC").count()
    created = run.created_count
    records_per_second = run.read_count / run_seconds if run_seconds else 0.0
    per_invoice = xero_calls / created if created else float("inf")
    total_cpu = worker_cpu + server_cpu + (postgres_cpu if vendor == "postgresql" else 0.0)
    # The worker's processes together (sampled), or its own peak if that is higher (a peak
    # shorter than the sampling interval).
    peak_mb = max(tree.pss_mb, usage.ru_maxrss / 1024)

    failures = list(SyncException.objects.filter(flow=orders_flow).values("code")
                    .annotate(n=Count("pk"), example=Min("message")).order_by("-n")[:3])

    def verdict(ok: bool) -> str:
        return "meets the goal" if ok else "MISSES the goal"

    report(f"Backfill: {args.orders:,} TIMS sales orders → Xero invoices (orders flow, batch {args.batch})", [
        ("database", vendor),
        ("run", f"#{run.pk} {run.status}: read {run.read_count:,}, created {created:,}, skipped {run.skipped_count}, "
                f"failed {run.failed_count}; Xero holds {invoices:,} sales invoices"),
        ("run time", f"{run_seconds:.1f} s (worker process {wall:.1f} s with start-up)"),
        ("records/s", f"{records_per_second:,.0f} read ({created / run_seconds if run_seconds else 0:,.0f} invoices "
                      f"created) per second; goal >= {GOAL_RECORDS_PER_SECOND:,}: {verdict(records_per_second >= GOAL_RECORDS_PER_SECOND)}"),
        ("Xero calls per invoice", f"{per_invoice:.4f} = 1/{1 / per_invoice if per_invoice else 0:.1f} ({xero_calls} calls, "
                                   f"{xero_writes} writes); goal <= 1/45 = {GOAL_CALLS_PER_INVOICE:.4f}: "
                                   f"{verdict(per_invoice <= GOAL_CALLS_PER_INVOICE)}"),
        ("TIMS calls", f"{tims_calls} ({tims_calls / max(run.read_count, 1):.4f} per order)"),
        ("CPU", f"flow worker and its lane processes {worker_cpu:.1f} s ({worker_cpu * 1000 / max(run.read_count, 1):.2f} ms per record, "
                f"{run.read_count / worker_cpu if worker_cpu else 0:,.0f} records per CPU second); "
                f"sandbox server (Xero and TIMS emulators; {_server_label(args)}) {server_cpu:.1f} s "
                f"({server_cpu * 1000 / max(run.read_count, 1):.2f} ms per record)"
                + (f"; PostgreSQL {postgres_cpu:.1f} s ({postgres_cpu * 1000 / max(run.read_count, 1):.2f} ms per record)"
                   if vendor == "postgresql" else "")
                + f"; together {total_cpu * 1000 / max(run.read_count, 1):.2f} ms per record, "
                  f"{total_cpu / wall if wall else 0:.2f} of {os.cpu_count()} cores busy on average"),
        ("worker peak RSS", f"{peak_mb:.0f} MB, its lane processes included, shared pages divided among "
                            f"them (PSS; their RSS summed {tree.rss_mb:.0f} MB; the worker alone "
                            f"{usage.ru_maxrss / 1024:.0f} MB); goal <= {GOAL_PEAK_RSS_MB} MB at 100,000 orders"
                            + (f": {verdict(peak_mb <= GOAL_PEAK_RSS_MB)}" if args.orders >= 100_000 else
                               f" (measured at {args.orders:,}: run --orders 100000 for the goal's figure)")),
        ("queue", "; ".join(f"{row['n']} {row['code']} (e.g. {row['example'][:120]})" for row in failures) or "empty"),
        ("seeding (not measured)", f"{seeding:.1f} s"),
    ])


if __name__ == "__main__":
    main()
