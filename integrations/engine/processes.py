"""Batches of a long run worked in other processes of the same machine.

A batch costs a millisecond or more of Python per record (mapping, validating, building and
committing); in one process its lanes share one interpreter lock, so a backfill used one core
however many the machine had. A run with more batches than lanes hands the later ones to a
pool of lane processes, each with its own FlowRunner for the run, its own database connection
and its own API clients, working one batch at a time.

Lane processes are forked from a fork server (``forkserver``) that imported Django and the
apps once (``lane_preload``), so a run does not pay an interpreter start and every import per
lane, and they inherit no socket, connection, thread or held lock of the worker.

Nothing about exactly once changes: a lane process runs the same ``FlowRunner.process`` a lane
thread runs, against the same rows (pending links, row locks, unique constraints); the run
still commits its cursor only past batches whose results came back, in the order they were
read. A lane process dies with the process that started it (Linux's parent-death signal), just
as a lane thread does, so a killed worker leaves no batch sending behind it.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection as db_connection, connections

if TYPE_CHECKING:
    from integrations.engine.pipeline import BatchReport, FlowRunner

PR_SET_PDEATHSIG = 1  # linux/prctl.h

# The lane process's runner, built once by ``_lane_start``.
_runner: FlowRunner | None = None
_correlation_id: uuid.UUID | None = None


def lane_processes_wanted() -> bool:
    """Lane processes for this run's later batches? ``FLOW_LANE_PROCESSES`` says; ``auto`` means
    yes on PostgreSQL on a machine with more than one core (SQLite takes one writer at a time,
    so processes would only queue for its lock). Linux only: elsewhere a killed worker would
    leave its lanes sending."""
    choice = settings.FLOW_LANE_PROCESSES
    if choice == "off" or not sys.platform.startswith("linux"):
        return False  # a lane dies with its worker by Linux's parent-death signal only
    return choice == "on" or (db_connection.vendor == "postgresql" and (os.cpu_count() or 1) > 1)


def _die_with_parent() -> None:
    """SIGKILL this process when the one that forked it ends, however it ends. That is the fork
    server, which ends when the worker that started it does: when the last holder of its
    liveness pipe closes it. Every forked process is handed that pipe too (so that it could use
    the server itself) and would keep the server, and so itself, alive after the worker died: a
    lane starts no process, so it closes its copy."""
    from multiprocessing import forkserver

    server = forkserver._forkserver  # noqa: SLF001  (the module's own singleton: no public handle)
    if server._forkserver_alive_fd is not None:  # noqa: SLF001
        os.close(server._forkserver_alive_fd)  # noqa: SLF001
        server._forkserver_alive_fd = None  # noqa: SLF001
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # it ended before the signal was asked for
        os._exit(1)


def settings_snapshot() -> dict[str, Any]:
    """The worker's settings as they are now, a command's or a test's changes included (the
    fork server read them from the environment when it started), and each database as the
    worker connects to it (a test database's name, say)."""
    snapshot = {}
    for name in dir(settings):
        if name.isupper() and name != "DATABASES":
            value = getattr(settings, name)
            try:
                pickle.dumps(value)
            except Exception:  # noqa: BLE001  (a callable in a setting, say: the lane keeps its own)
                continue
            snapshot[name] = value
    snapshot["DATABASES"] = {alias: dict(connections[alias].settings_dict) for alias in connections}
    return snapshot


def _settings_apply(snapshot: dict[str, Any]) -> None:
    for name, value in snapshot.items():
        if name != "DATABASES" and getattr(settings, name, None) != value:
            setattr(settings, name, value)
    for alias, settings_dict in snapshot["DATABASES"].items():
        wrapper = connections[alias]
        wrapper.connection = None  # never the fork server's socket (it opens none)
        wrapper.settings_dict.clear()
        wrapper.settings_dict.update(settings_dict)


def _lane_start(run_pk: int, correlation_id: uuid.UUID, snapshot: dict[str, Any]) -> None:
    _die_with_parent()
    import django

    django.setup()  # done already by the fork server's preload, unless that failed
    _settings_apply(snapshot)
    from integrations.engine.pipeline import FlowRunner
    from integrations.models import SyncRun

    global _runner, _correlation_id
    run = SyncRun.objects.select_related(
        "flow__source_connection", "flow__target_connection", "flow__mapping_set").get(pk=run_pk)
    _runner = FlowRunner(run.flow, run)
    _correlation_id = correlation_id


def _lane_work(chunk: list[Any]) -> BatchReport:
    from integrations.services.audit import operation

    assert _runner is not None, "a lane process works batches only after _lane_start"
    with operation(_correlation_id):
        report = _runner.process(chunk)
    report.items = []  # the run reads only the counts; items hold the runner's own objects
    return report


def _lane_context() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["integrations.engine.lane_preload"])
    return context


def fork_server_warm() -> None:
    """Start the worker's fork server now (once per worker process; later calls do nothing), so
    that its imports run while a run reads its first page and works its first batches in
    threads, rather than hold up the lanes when the run hands them batches."""
    from multiprocessing import forkserver

    _lane_context()
    forkserver.ensure_running()


def lane_pool(width: int, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> ProcessPoolExecutor:
    """Up to ``width`` processes forked from the preloaded fork server, each set up by
    ``initializer`` (which must call ``_die_with_parent`` first)."""
    return ProcessPoolExecutor(max_workers=width, mp_context=_lane_context(), initializer=initializer, initargs=initargs)


def lane_processes_count(width: int) -> int:
    """Lane processes for a run of ``width`` lanes: one more than the machine's cores, as a lane
    also waits for the target's answers, and no more, since each costs its own memory. On 2
    cores the 10,000-order backfill ran at 514-520 records/s with 2, 551-555 with 3 and 527-549
    with 4 (``tests/bench/backfill.py``)."""
    return max(1, min(width, (os.cpu_count() or 1) + 1))


class LaneProcesses:
    """A pool of lane processes for one run (``lane_processes_count``), started on the first
    batch sent."""

    def __init__(self, runner: FlowRunner, width: int, correlation_id: uuid.UUID) -> None:
        if runner.run is None:
            raise ValueError("lane processes work the batches of a run")
        self.size = lane_processes_count(width)
        self.pool = lane_pool(self.size, _lane_start, (runner.run.pk, correlation_id, settings_snapshot()))

    def submit(self, chunk: list[Any]) -> Future:
        return self.pool.submit(_lane_work, chunk)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
