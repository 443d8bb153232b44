"""A run's heartbeat: written after its first batch, then at most once per PROGRESS_SECONDS
however fast batches commit; a run cancelled meanwhile is told to stop at the next write."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.engine import pipeline
from integrations.engine.pipeline import Heartbeat
from integrations.models import RunStatus, SyncRun
from tests.factories import make_flow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.mark.django_db
def test_progress_is_written_after_the_first_batch_then_once_a_second(clock):
    run = make_flow().runs.create(status=RunStatus.RUNNING)
    heartbeat = Heartbeat(run, clock)

    run.read_count = 50
    assert heartbeat.alive()
    assert SyncRun.objects.get(pk=run.pk).read_count == 50

    run.read_count = 100
    clock.now += pipeline.PROGRESS_SECONDS / 2
    with CaptureQueriesContext(connection) as queries:
        assert heartbeat.alive()
    assert len(queries) == 0  # too soon: nothing written
    assert SyncRun.objects.get(pk=run.pk).read_count == 50

    clock.now += pipeline.PROGRESS_SECONDS / 2
    assert heartbeat.alive()
    stored = SyncRun.objects.get(pk=run.pk)
    assert stored.read_count == 100 and stored.heartbeat_at is not None


@pytest.mark.django_db
def test_a_run_cancelled_meanwhile_is_told_to_stop_at_the_next_write(clock):
    run = make_flow().runs.create(status=RunStatus.RUNNING)
    heartbeat = Heartbeat(run, clock)
    assert heartbeat.alive()
    SyncRun.objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED)
    assert heartbeat.alive()  # not yet due: the run goes on for at most PROGRESS_SECONDS
    clock.now += pipeline.PROGRESS_SECONDS
    assert not heartbeat.alive()
