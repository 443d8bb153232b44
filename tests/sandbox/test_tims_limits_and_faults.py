"""RateLimit-* headers, 429 with Retry-After under a configured limit, the in-flight cap, and
injected faults, all through the shared machinery in sandbox/common/."""

from __future__ import annotations

import pytest

from sandbox.common import limits
from sandbox.common.faults import fault_setting_update
from sandbox.tims.policy import client_policy
from sandbox.tims.services import tims_client_set_limits
from tests.sandbox.tims_support import problem_type

CUSTOMERS = "/api/v1/customers"


def test_every_answer_counts_down(tims, tims_client, steady_limit_clock):
    tims_client_set_limits(client=tims_client, window_seconds=3600)  # no window boundary mid-test
    first, second = tims.get(CUSTOMERS), tims.get("/api/v1/customers/cus_missing")
    assert first["RateLimit-Limit"] == second["RateLimit-Limit"] == "120"
    assert int(first["RateLimit-Remaining"]) - 1 == int(second["RateLimit-Remaining"])
    assert 0 <= int(second["RateLimit-Reset"]) <= 3600
    assert second.status_code == 404 and second["Request-Id"] in second.json()["instance"]


def test_over_the_budget_is_429_with_retry_after(tims, tims_client, steady_limit_clock):
    tims_client_set_limits(client=tims_client, minute=2, window_seconds=3600, concurrent=None)
    assert tims.get(CUSTOMERS).status_code == 200
    last = tims.get(CUSTOMERS)
    assert last.status_code == 200 and last["RateLimit-Remaining"] == "0"
    limited = tims.get(CUSTOMERS)
    assert limited.status_code == 429 and problem_type(limited) == "rate-limited"
    assert 1 <= int(limited["Retry-After"]) <= 3600 and limited["RateLimit-Remaining"] == "0"
    assert limited["Retry-After"] == limited["RateLimit-Reset"]
    assert limited["RateLimit-Limit"] == "2"


def test_windows_follow_the_clients_settings(tims, tims_client, steady_limit_clock):
    tims_client_set_limits(client=tims_client, minute=1, window_seconds=3600, concurrent=None)
    assert tims.get(CUSTOMERS).status_code == 200
    limited = tims.get(CUSTOMERS)
    assert limited.status_code == 429 and 60 < int(limited["Retry-After"]) <= 3600


def test_in_flight_cap(tims, tims_client):
    tims_client_set_limits(client=tims_client, minute=120, concurrent=1)
    held = limits.acquire_concurrency(client_policy(tims_client))[1]
    limited = tims.get(CUSTOMERS)
    assert limited.status_code == 429 and limited["Retry-After"] == "1"
    limits.release_concurrency(held)
    assert tims.get(CUSTOMERS).status_code == 200


@pytest.mark.parametrize(("status", "kind"), [(500, "internal-error"), (503, "unavailable")])
def test_error_faults(tims, tims_site, status, kind):
    fault_setting_update(system="tims", tenant_key=tims_site.code, error_rate=1, error_status=status)
    response = tims.get(CUSTOMERS)
    assert response.status_code == status and problem_type(response) == kind and response["RateLimit-Limit"]
    assert ("Retry-After" in response) == (status == 503)


def test_rate_limit_fault(tims, tims_site):
    fault_setting_update(system="tims", tenant_key=tims_site.code, rate_limit_rate=1)
    response = tims.get(CUSTOMERS)
    assert response.status_code == 429 and problem_type(response) == "rate-limited" and int(response["Retry-After"]) >= 1


def test_seeded_faults_replay(tims, tims_site):
    fault_setting_update(system="tims", tenant_key=tims_site.code, seed=11, error_rate=0.5)
    first = [tims.get(CUSTOMERS).status_code for _ in range(12)]
    fault_setting_update(system="tims", tenant_key=tims_site.code, seed=12)
    fault_setting_update(system="tims", tenant_key=tims_site.code, seed=11)
    assert [tims.get(CUSTOMERS).status_code for _ in range(12)] == first
    assert {200, 500} == set(first)


def test_faults_endpoint_knows_tims(client, tims_site):
    url = f"/sandbox/faults/tims/{tims_site.code}"
    assert client.put(url, {"error_rate": 0.5, "seed": 3}, content_type="application/json").json()["error_rate"] == 0.5


def test_unauthenticated_calls_spend_the_sites_budget(tims, tims_site, steady_limit_clock):
    tims_site.anonymous_minute_limit = 1
    tims_site.save()
    first = tims.get(CUSTOMERS, token="")
    assert first.status_code == 401 and first["RateLimit-Remaining"] == "0"
    assert tims.get(CUSTOMERS).status_code == 200  # a real client has its own budget


def test_an_unexpected_error_is_a_problem_and_writes_nothing(tims, monkeypatch):
    from sandbox.models import TimsCustomer
    from sandbox.tims import handlers

    def broken(**kwargs):
        TimsCustomer.objects.create(site=kwargs["site"], customer_code="HALF", name="Half written", currency="GBP")
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(handlers.CREATE, "customers", ("CustomerCreate", broken, None))
    response = tims.post(CUSTOMERS, {"name": "X", "currency": "GBP"}, headers={"Idempotency-Key": "boom"})
    assert response.status_code == 500 and problem_type(response) == "internal-error"
    assert not TimsCustomer.objects.exists()
