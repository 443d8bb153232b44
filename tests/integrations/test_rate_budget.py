"""The database rate budget: exact sliding windows, the API's own counts, 429 pauses and
concurrency slots, shared by every worker."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from connectors.base import RateObservation
from connectors.rate import RateLimits, Window
from integrations.models import RateGrant, RateLease
from integrations.rate_budget import DatabaseRateBudget


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


LIMITS = RateLimits(windows=(Window("minute", 3, 60), Window("day", 5, 86400)), concurrency=2, lease_seconds=30)


def _race(worker, count: int) -> None:
    """``count`` threads running ``worker`` at once, each with its own database connection."""
    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def budget(db, clock):
    return DatabaseRateBudget(LIMITS, clock=clock)


def test_the_minute_window_is_exact(budget, clock):
    assert [budget.acquire("xero:t1") for _ in range(3)] == [0, 0, 0]
    clock.now += 10
    assert budget.acquire("xero:t1") == pytest.approx(50)  # the first grant leaves the window at +60
    clock.now += 50
    assert budget.acquire("xero:t1") == 0


def test_the_day_window_applies_across_minutes(budget, clock):
    for _ in range(5):
        assert budget.acquire("xero:t1") == 0
        clock.now += 61
    assert budget.acquire("xero:t1") == pytest.approx(86400 - 5 * 61)


def test_tenants_have_their_own_budgets(budget):
    for _ in range(3):
        budget.acquire("xero:t1")
    assert budget.acquire("xero:t2") == 0


def test_the_apis_own_count_tightens_the_budget(budget, clock):
    """Other clients of the tenant spent calls we never saw: Xero says 1 left this minute."""
    budget.observe("xero:t1", RateObservation(remaining={"minute": 1}))
    assert budget.acquire("xero:t1") == 0
    assert budget.acquire("xero:t1") == pytest.approx(60)


def test_a_429_pauses_every_worker(budget, clock):
    budget.observe("xero:t1", RateObservation(retry_after=17))
    assert budget.acquire("xero:t1") == pytest.approx(17)
    clock.now += 17
    assert budget.acquire("xero:t1") == 0


def test_a_cost_that_can_never_fit_is_an_error(budget):
    with pytest.raises(ValueError):
        budget.acquire("xero:t1", cost=4)


def test_concurrency_slots_are_leases(budget, clock):
    first, second = budget.enter("xero:t1"), budget.enter("xero:t1")
    assert first and second and budget.enter("xero:t1") is None
    budget.leave("xero:t1", first)
    third = budget.enter("xero:t1")
    assert third
    clock.now += 31  # a crashed worker's slots expire
    assert budget.enter("xero:t1") and budget.enter("xero:t1")


def test_expired_leases_are_swept_now_and_then(budget, clock, monkeypatch):
    held = [budget.enter("xero:t1") for _ in range(2)]
    clock.now += 31  # their worker crashed: the leases stay until a sweep
    monkeypatch.setattr("integrations.rate_budget.random.random", lambda: 0.5)
    fresh = budget.enter("xero:t1")
    assert set(RateLease.objects.values_list("lease", flat=True)) == {*held, fresh}
    monkeypatch.setattr("integrations.rate_budget.random.random", lambda: 0.0)
    newest = budget.enter("xero:t1")
    assert set(RateLease.objects.values_list("lease", flat=True)) == {fresh, newest}


@pytest.mark.django_db(transaction=True)
def test_workers_racing_never_overspend(clock, postgres_only):
    # Row locks between connections: SQLite has one writer at a time.
    limits = RateLimits(windows=(Window("minute", 20, 60),))
    granted = []

    def worker():
        budget = DatabaseRateBudget(limits, clock=clock)
        for _ in range(10):
            if budget.acquire("xero:race") == 0:
                granted.append(1)
        connection.close()

    _race(worker, 6)
    assert len(granted) == 20
    assert RateGrant.objects.filter(key="xero:race").count() == 20


@pytest.mark.django_db(transaction=True)
def test_workers_racing_for_slots_never_hold_more_than_the_concurrency(clock, postgres_only):
    # Row locks between connections: SQLite has one writer at a time.
    limits = RateLimits(windows=(Window("minute", 1000, 60),), concurrency=3)
    held = []

    def worker():
        budget = DatabaseRateBudget(limits, clock=clock)
        for _ in range(5):
            if lease := budget.enter("xero:slots"):
                held.append(lease)
        connection.close()

    _race(worker, 6)
    assert len(held) == 3
    assert set(RateLease.objects.filter(key="xero:slots").values_list("lease", flat=True)) == set(held)


def test_a_reading_of_the_apis_count_goes_stale(budget, clock):
    """0 calls left today must not block the tenant for a whole day: the day window resets at
    a time the API does not say, so a reading is trusted for observation_ttl only."""
    budget.observe("xero:t1", RateObservation(remaining={"day": 0}))
    assert budget.acquire("xero:t1") == pytest.approx(LIMITS.observation_ttl)
    clock.now += LIMITS.observation_ttl
    assert budget.acquire("xero:t1") == 0
