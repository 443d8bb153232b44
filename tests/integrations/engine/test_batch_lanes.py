"""Batches in lanes: several batches of one run worked at once, committed in read order; a
record never in two batches at once; exactly once still holds across many small batches."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from connectors.base import RawRecord
from integrations.engine.pipeline import BatchLanes, BatchReport, lanes_for, run_execute
from integrations.mapping_templates import templates_install
from integrations.engine.records import record_id, record_ref
from integrations.models import AuditEvent, Flow, MappingSet, RecordLink, SyncException, SyncRun
from integrations.services.runs import flow_run_request, run_claim


@dataclass
class Record:
    remote_id: str
    updated_at: datetime


class SlowRunner:
    """Stands in for a FlowRunner: notes which records are in flight in which thread. The first
    batch stays in flight until another batch has started (lanes side by side start one at
    once), so a second lane is used however slowly the submitting thread is scheduled; batches
    run one after another would wait out the timeout and use one thread."""

    def __init__(self) -> None:
        self.flow = type("F", (), {"pk": 1})()
        self.in_flight: set[str] = set()
        self.overlaps: list[str] = []
        self.threads: set[str] = set()
        self.lock = threading.Lock()
        self.started = 0
        self.another_started = threading.Event()

    def process(self, chunk):
        ids = {r.remote_id for r in chunk}
        with self.lock:
            self.overlaps += sorted(ids & self.in_flight)
            self.in_flight |= ids
            self.threads.add(threading.current_thread().name)
            first = self.started == 0
            self.started += 1
        if first:
            self.another_started.wait(timeout=10)
        else:
            self.another_started.set()
        time.sleep(0.05)
        with self.lock:
            self.in_flight -= ids
        report = BatchReport()
        report.created = len(chunk)
        return report


def _records(*ids):
    return [Record(i, datetime(2026, 1, 1, tzinfo=timezone.utc)) for i in ids]


@pytest.mark.django_db(transaction=True)
def test_batches_run_side_by_side_come_back_in_order_and_never_share_a_record():
    runner = SlowRunner()
    chunks = [_records("a", "b"), _records("c", "d"), _records("e", "f"), _records("b", "g"), _records("h")]
    done = []
    with BatchLanes(runner, 3) as lanes:
        for chunk in chunks:
            done += lanes.submit(chunk)
        done += lanes.drain()
    assert [c for c, _ in done] == chunks  # read order, whatever finished first
    assert runner.overlaps == []  # "b" waited for the batch that held it
    assert len(runner.threads) > 1


class ThreadLanes:
    """Stands in for LaneProcesses: ``size`` workers taking one batch at a time each."""

    size = 2

    def __init__(self, runner, width, correlation_id):
        from concurrent.futures import ThreadPoolExecutor

        self.runner = runner
        self.pool = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="lane-process")

    def submit(self, chunk):
        return self.pool.submit(self.runner.process, chunk)

    def shutdown(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


class OneSlowBatch:
    """Batch "slow" stays out until two batches read after it have started, or 5 s pass."""

    def __init__(self) -> None:
        self.flow = type("F", (), {"pk": 1})()
        self.run = object()
        self.lock = threading.Lock()
        self.started_after_slow = 0
        self.slow_out = False
        self.two_more = threading.Event()
        self.waited_in_vain = None

    def process(self, chunk):
        if chunk[0].remote_id == "slow":
            with self.lock:
                self.slow_out = True
            self.waited_in_vain = not self.two_more.wait(timeout=5)
        else:
            with self.lock:
                if self.slow_out:
                    self.started_after_slow += 1
                    if self.started_after_slow >= 2:
                        self.two_more.set()
        report = BatchReport()
        report.created = len(chunk)
        return report


@pytest.mark.django_db(transaction=True)
def test_a_lane_process_goes_on_with_later_batches_while_an_older_one_is_out(monkeypatch):
    """Lane processes keep a batch queued each: while one works a slow batch, the other works
    the batches read after it instead of idling until the slow one's result is read back."""
    from integrations.engine import pipeline

    monkeypatch.setattr(pipeline, "LaneProcesses", ThreadLanes)
    runner = OneSlowBatch()
    ids = ["a", "b", "c", "d", "slow", "f", "g", "h", "i"]
    done = []
    with BatchLanes(runner, 2, processes=True) as lanes:
        for remote_id in ids:
            done += lanes.submit(_records(remote_id))
        done += lanes.drain()
    assert [c[0].remote_id for c, _ in done] == ids  # still read back in read order
    assert runner.waited_in_vain is False
    assert runner.started_after_slow >= 2


pytest.importorskip("sandbox.tims.services", reason="the sandbox app is off (SANDBOX_ENABLED=false)")


@pytest.fixture(params=["threads", "processes"])
def lane_kind(request, settings, monkeypatch):
    """Lanes as threads of the worker, or (PostgreSQL: a lane process cannot open the test's
    SQLite database) the run's later batches in lane processes; yields the batches sent to them."""
    from integrations.engine import processes

    sent = []
    if request.param == "processes":
        request.getfixturevalue("postgres_only")
        if not sys.platform.startswith("linux"):
            pytest.skip("lane processes run only on Linux (they die with their worker by its parent-death signal); elsewhere the run uses threads, the other case of this fixture")
        original = processes.LaneProcesses.submit
        monkeypatch.setattr(processes.LaneProcesses, "submit", lambda self, chunk: sent.append(chunk) or original(self, chunk))
    settings.FLOW_LANE_PROCESSES = "on" if request.param == "processes" else "off"
    yield request.param, sent


@pytest.mark.django_db(transaction=True)
def test_many_small_batches_in_lanes_create_each_invoice_once(settings, live_server, lane_kind):
    from sandbox.models import TimsSalesOrder, XeroInvoice
    from tests.sandboxes import tims_connection, xero_connection

    kind, sent_to_processes = lane_kind
    settings.SANDBOX_BASE_URL = f"{live_server.url}/sandbox"  # lane processes work with it too
    templates_install()
    tims, site = tims_connection("acme", seed=1)
    xero, tenant = xero_connection("Acme Gases Ltd")

    def flow(template, slug, batch):
        mapping = MappingSet.objects.get(name=template)
        return Flow.objects.create(slug=slug, name=template, source_connection=tims, source_entity=mapping.source_entity,
                                   target_connection=xero, target_entity=mapping.target_entity, mapping_set=mapping,
                                   batch_size=batch, enabled=True)

    def run(f):
        return run_execute(run_claim(run_id=flow_run_request(flow=f, trigger="manual", enqueue=False).pk))

    run(flow("TIMS customers → Xero contacts", "customers", 50))
    run(flow("TIMS products → Xero items", "products", 50))
    orders = flow("TIMS sales orders → Xero invoices", "orders", 3)
    assert lanes_for(orders, SyncRun(flow=orders, trigger="manual")) > 1
    first = run(orders)
    assert first.read_count == TimsSalesOrder.objects.filter(site=site).count()
    invoices = XeroInvoice.objects.filter(tenant=tenant, type="ACCREC")
    assert invoices.count() == first.created_count > 3
    numbers = list(invoices.values_list("invoice_number", flat=True))
    assert len(numbers) == len(set(numbers))
    links = RecordLink.objects.filter(source_type="sales_order", state="linked")
    assert links.count() == first.created_count
    if kind == "processes":
        # The batches after the first lanes' worth went to lane processes, which did their share.
        width = lanes_for(orders, first)
        assert len(sent_to_processes) == -(-first.read_count // 3) - width > 0
        # They crossed as TIMS's JSON, decoded in the lane processes.
        assert all(isinstance(record, RawRecord) and isinstance(record.raw, dict)
                   for chunk in sent_to_processes for record in chunk)
        # Each of their records has its fate recorded by this run, under its correlation id.
        audited = set(AuditEvent.objects.filter(run=first, correlation_id=first.correlation_id)
                      .values_list("object_ref", flat=True))
        queued = set(SyncException.objects.filter(run=first).values_list("record_id", flat=True))
        records = [r.decoded() for chunk in sent_to_processes for r in chunk]
        unsettled = [record_ref(r) for r in records if record_ref(r) not in audited and record_id(r) not in queued]
        assert unsettled == []
    # The cursor sits at the newest order read, and a full re-run sends nothing again.
    newest = max(TimsSalesOrder.objects.filter(site=site).values_list("updated_at", flat=True))
    orders.refresh_from_db()
    assert datetime.fromisoformat(orders.cursor["high_water"]) == newest
    again = run_execute(run_claim(run_id=flow_run_request(flow=orders, trigger="manual", full=True, enqueue=False).pk))
    assert again.created_count == 0 and invoices.count() == first.created_count
