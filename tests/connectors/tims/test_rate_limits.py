"""The TIMS limits (README "Rate limits"): a 429 storm is waited out, paced by Retry-After,
without failing and without writing anything twice; the RateLimit-* headers feed the shared
budget so that workers slow down before the site says 429."""

from __future__ import annotations

import httpx
import pytest

from connectors.base import InMemoryTokenStore, RateLimited
from connectors.rate import InProcessRateBudget
from connectors.tims import TIMS_RATE_HEADERS, TIMS_RATE_LIMITS, connect
from tests.connectors.test_http import FakeClock  # simulated time: the fake site's window, the budget and the sleeps share it
from tests.connectors.tims.conftest import SETTINGS
from tests.connectors.tims.fakes import example
from tests.connectors.tims.test_client import api_requests, new_customer


def test_a_429_storm_is_waited_out_with_every_write_applied_once(fake):
    clock = FakeClock()
    fake.clock = clock
    client = connect(SETTINGS, token_store=InMemoryTokenStore(), sleep=clock.sleep)
    results = []
    for n in range(10):
        fake.storm["POST customers"] = 4  # four 429s (Retry-After: 2) before each create goes through
        results += client.create_customers({f"c{n}": new_customer(f"xero-{n}", name=f"Customer {n}")})
    fake.storm["GET customers"] = 4
    listed = list(client.list_customers())
    assert all(r.ok for r in results) and len(listed) == 10
    assert len(fake.writes) == 10 and len(fake.data["customers"]) == 10  # nothing written twice
    refused = [r for r in api_requests(fake) if r.method == "POST"]
    assert len(refused) == 50  # 40 refused attempts and 10 accepted ones
    for n in range(10):
        attempts = refused[n * 5 : n * 5 + 5]
        assert len({r.headers["Idempotency-Key"] for r in attempts}) == 1  # one key per logical write
    assert len(clock.sleeps) == 44 and all(2 <= s <= 4 for s in clock.sleeps)  # Retry-After, plus jitter


def test_a_storm_longer_than_the_policy_raises_rate_limited_without_writing(fake):
    clock = FakeClock()
    fake.clock = clock
    client = connect(SETTINGS, token_store=InMemoryTokenStore(), sleep=clock.sleep)
    fake.storm["POST customers"] = 50
    with pytest.raises(RateLimited) as caught:
        client.create_customers({"c": new_customer()})
    assert caught.value.retry_after == 2 and fake.writes == []


def test_the_budget_reads_the_headers_and_never_runs_into_a_429(fake):
    """The site allows 10 calls a minute, not the documented 120: RateLimit-Remaining says so
    on every answer, and the budget paces the workers below it."""
    clock = FakeClock()
    fake.clock = clock
    fake.rate_limit = (10, 60.0)
    budget = InProcessRateBudget(TIMS_RATE_LIMITS, clock=clock)
    client = connect(SETTINGS, token_store=InMemoryTokenStore(), budget=budget, sleep=clock.sleep)
    started = clock.now
    results = []
    for n in range(25):
        results += client.create_customers({f"c{n}": new_customer(f"xero-{n}", name=f"Customer {n}")})
    assert all(r.ok for r in results) and len(fake.data["customers"]) == 25
    statuses = [c for c in fake.requests if c.url.path.startswith("/api/")]
    assert len(statuses) == 25  # not one retry: no 429 was ever answered
    assert clock.now - started >= 120  # 25 calls at 10 a minute take at least two more windows


def test_a_window_down_to_its_reserve_pauses_until_the_reset():
    spent = httpx.Response(200, headers={"RateLimit-Limit": "120", "RateLimit-Remaining": "1", "RateLimit-Reset": "17"})
    observed = TIMS_RATE_HEADERS.observe(spent)
    assert observed.remaining == {"window": 1} and observed.retry_after == 17
    fine = TIMS_RATE_HEADERS.observe(httpx.Response(200, headers={"RateLimit-Remaining": "57", "RateLimit-Reset": "17"}))
    assert fine.remaining == {"window": 57} and fine.retry_after is None
    limited = TIMS_RATE_HEADERS.observe(httpx.Response(429, headers={"RateLimit-Remaining": "0", "RateLimit-Reset": "17", "Retry-After": "9"}))
    assert limited.retry_after == 9  # the site's own Retry-After wins


def test_a_short_site_window_is_not_waited_for_as_a_whole_minute(fake):
    """A site with 5 calls per 10 seconds: the budget waits for each reset, not 60 s a time."""
    clock = FakeClock()
    fake.clock = clock
    fake.rate_limit = (5, 10.0)
    budget = InProcessRateBudget(TIMS_RATE_LIMITS, clock=clock)
    client = connect(SETTINGS, token_store=InMemoryTokenStore(), budget=budget, sleep=clock.sleep)
    fake.put("customers", example("Customer"))
    started = clock.now
    for _ in range(20):
        assert len(client.get_records("customer", list(fake.data["customers"]))) == 1
    assert len(api_requests(fake)) == 20  # no 429, no retry
    assert clock.now - started <= 50  # 20 calls at 4 a window: 4 resets of 10 s, not minutes


def test_limits_match_the_contract():
    assert [(w.name, w.calls, w.seconds) for w in TIMS_RATE_LIMITS.windows] == [("minute", 120, 60.0)]
    assert TIMS_RATE_LIMITS.concurrency == 10 and TIMS_RATE_LIMITS.reserve == 0
