"""The two rate budgets of connectors.rate, held to the same contract. The Redis one runs
against redis://127.0.0.1:6379/15 and is skipped when no server answers there."""

from __future__ import annotations

import threading
import uuid

import pytest

from connectors.base import RateObservation
from connectors.rate import InProcessRateBudget, RateLimits, RedisRateBudget, Window

REDIS_URL = "redis://127.0.0.1:6379/15"


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def redis_client():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis server at {REDIS_URL} (start one to test the shared Redis budget)")
    prefix = f"test-rate-{uuid.uuid4().hex}"
    yield client, prefix
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


def limits(calls: int = 3, seconds: float = 60, **kwargs) -> RateLimits:
    return RateLimits(windows=(Window("minute", calls, seconds),), **kwargs)


# --- In-process -----------------------------------------------------------------------------------


def test_in_process_window_grants_then_says_how_long_to_wait():
    clock = Clock()
    budget = InProcessRateBudget(limits(3, 60), clock=clock)
    assert [budget.acquire("t") for _ in range(3)] == [0, 0, 0]
    clock.now += 10
    assert budget.acquire("t") == pytest.approx(50)
    assert budget.acquire("other-tenant") == 0  # budgets are per key
    clock.now += 50
    assert budget.acquire("t") == 0


def test_in_process_cost_and_multiple_windows():
    clock = Clock()
    budget = InProcessRateBudget(RateLimits(windows=(Window("minute", 5, 60), Window("day", 6, 86_400))), clock=clock)
    assert budget.acquire("t", cost=4) == 0
    assert budget.acquire("t", cost=2) == pytest.approx(60)  # the minute is short of room
    clock.now += 60
    assert budget.acquire("t", cost=2) == 0
    assert budget.acquire("t") == pytest.approx(86_400 - 60)  # the day is spent
    with pytest.raises(ValueError):
        budget.acquire("t", cost=7)


def test_in_process_observation_and_retry_after():
    clock = Clock()
    budget = InProcessRateBudget(limits(60, 60, reserve=1), clock=clock)
    budget.observe("t", RateObservation(remaining={"minute": 2}))
    clock.now += 1
    assert budget.acquire("t") == 0
    assert budget.acquire("t") == pytest.approx(59)  # 2 left - 1 reserve
    budget.observe("t", RateObservation(retry_after=120))
    clock.now += 60  # the minute has passed, but the 429's pause has not
    assert budget.acquire("t") == pytest.approx(60)


def test_a_spent_day_is_probed_again_after_the_observation_ttl():
    """Xero's day window resets at a time we do not know: '0 left' stops calls for
    observation_ttl, not for 24 hours; then one call may go and read the count again."""
    clock = Clock()
    budget = InProcessRateBudget(RateLimits(windows=(Window("day", 5000, 86_400),), observation_ttl=300), clock=clock)
    budget.observe("t", RateObservation(remaining={"day": 0}))
    assert budget.acquire("t") == pytest.approx(300)
    clock.now += 300
    assert budget.acquire("t") == 0


def test_in_process_concurrency_leases():
    clock = Clock()
    budget = InProcessRateBudget(limits(concurrency=2, lease_seconds=30), clock=clock)
    first, second = budget.enter("t"), budget.enter("t")
    assert first and second and budget.enter("t") is None
    budget.leave("t", first)
    assert budget.enter("t") is not None
    clock.now += 31  # a crashed worker's lease runs out
    assert budget.enter("t") is not None


# --- Redis ---------------------------------------------------------------------------------------


def test_redis_window_grants_then_says_how_long_to_wait(redis_client):
    client, prefix = redis_client
    budget = RedisRateBudget(client, limits(3, 60), prefix=prefix)
    assert [budget.acquire("xero:t1") for _ in range(3)] == [0, 0, 0]
    wait = budget.acquire("xero:t1")
    assert 55 < wait <= 60
    assert budget.acquire("xero:t2") == 0


def test_redis_grants_no_more_than_the_limit_to_concurrent_workers(redis_client):
    """Six threads, each with its own connection, race for 30 calls of a 10-a-minute budget:
    exactly 10 are granted (one atomic script per decision, no lost update)."""
    import redis

    client, prefix = redis_client
    granted: list[float] = []
    refused: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def worker() -> None:
        own = redis.Redis.from_url(REDIS_URL)
        budget = RedisRateBudget(own, limits(10, 60), prefix=prefix)
        start.wait()
        for _ in range(5):
            wait = budget.acquire("xero:burst")
            with lock:
                (refused if wait else granted).append(wait)
        own.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 10 and len(refused) == 20
    assert all(0 < w <= 60 for w in refused)


def test_redis_observation_paces_and_retry_after_pauses(redis_client):
    client, prefix = redis_client
    budget = RedisRateBudget(client, limits(60, 60, reserve=1), prefix=prefix)
    budget.observe("xero:t", RateObservation(remaining={"minute": 3}))
    assert [budget.acquire("xero:t") for _ in range(2)] == [0, 0]
    assert 55 < budget.acquire("xero:t") <= 60  # 3 left - 1 reserve = 2
    other = RedisRateBudget(client, limits(60, 60), prefix=prefix)
    other.observe("xero:u", RateObservation(retry_after=30, problem="minute"))
    assert 25 < other.acquire("xero:u") <= 30


def test_redis_observation_expires_after_its_ttl(redis_client):
    client, prefix = redis_client
    # A TTL far longer than the two calls below can take, so the reading is still fresh at the
    # first acquire however slow the machine; the second acquire ages it on the server instead.
    budget = RedisRateBudget(client, RateLimits(windows=(Window("day", 5000, 86_400),), observation_ttl=300), prefix=prefix)
    budget.observe("xero:t", RateObservation(remaining={"day": 0}))
    assert 0 < budget.acquire("xero:t") <= 300  # not 24 hours
    client.hset(f"{prefix}:{{xero:t}}:observed", "day:at", "0")  # as if observed long ago
    assert budget.acquire("xero:t") == 0


def test_redis_concurrency_leases(redis_client):
    client, prefix = redis_client
    budget = RedisRateBudget(client, limits(concurrency=2), prefix=prefix)
    first, second = budget.enter("xero:t"), budget.enter("xero:t")
    assert first and second and budget.enter("xero:t") is None
    budget.leave("xero:t", first)
    assert budget.enter("xero:t") is not None


def test_redis_budget_drives_the_http_client(redis_client):
    """The same HttpClient pacing with the budget shared through Redis."""
    import httpx
    import respx

    from connectors.http import HttpClient, RetryPolicy

    client, prefix = redis_client
    budget = RedisRateBudget(client, limits(2, 60), prefix=prefix)
    sleeps: list[float] = []
    with respx.mock:
        route = respx.get("https://api.example.test/x").mock(return_value=httpx.Response(200, json={}))
        http = HttpClient("https://api.example.test/", budget=budget, budget_key="sys:t", sleep=sleeps.append, retry_policy=RetryPolicy(max_wait=5))
        http.get_json("x")
        http.get_json("x")
        from connectors.base import RateLimited

        with pytest.raises(RateLimited):
            http.get_json("x")  # the third call would wait ~60 s, beyond max_wait
    assert route.call_count == 2
