"""The shared limit and fault machinery, through the Xero emulator (api-notes §2)."""

from __future__ import annotations

import pytest

from sandbox.common import limits
from sandbox.common.faults import ConnectionDropped, fault_plan_draw, fault_setting_update
from sandbox.models import ConcurrencyLease, XeroContact
from sandbox.xero.policy import xero_limit_policy
from sandbox.xero.services import xero_tenant_set_limits
from tests.sandbox.conftest import steady_window_offset


def test_defaults_are_xeros(tenant, xero_app):
    assert (tenant.minute_limit, tenant.day_limit, tenant.concurrent_limit) == (60, 5000, 5)
    assert xero_app.app_minute_limit == 10000


def test_rate_headers_count_down(xero, steady_limit_clock):
    first = xero.get("/Contacts")
    second = xero.get("/Contacts")
    assert int(first["X-MinLimit-Remaining"]) - 1 == int(second["X-MinLimit-Remaining"])
    assert int(second["X-DayLimit-Remaining"]) == 4998
    assert int(second["X-AppMinLimit-Remaining"]) == 9998


def test_minute_limit_gives_429_with_retry_after(xero, tenant):
    xero_tenant_set_limits(tenant=tenant, minute=2, day=5000, concurrent=5)
    assert xero.get("/Contacts").status_code == 200
    assert xero.get("/Contacts").status_code == 200
    limited = xero.get("/Contacts", spec=False)
    assert limited.status_code == 429
    assert limited["X-Rate-Limit-Problem"] == "minute"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited["X-MinLimit-Remaining"] == "0"


def test_day_limit(xero, tenant, steady_limit_clock):
    # The day window ends at midnight (plus the tenant's offset): a held clock keeps both calls in one day.
    xero_tenant_set_limits(tenant=tenant, minute=None, day=1, concurrent=None)
    assert xero.get("/Contacts").status_code == 200
    limited = xero.get("/Contacts", spec=False)
    assert limited["X-Rate-Limit-Problem"] == "day" and int(limited["Retry-After"]) > 0


def test_app_minute_limit_has_no_retry_after(xero, xero_app, steady_limit_clock):
    xero_app.app_minute_limit = 1
    xero_app.save()
    xero.get("/Contacts")
    limited = xero.get("/Contacts", spec=False)
    assert limited.status_code == 429 and limited["X-Rate-Limit-Problem"] == "appminute"
    assert "Retry-After" not in limited


def test_concurrency_cap(xero, tenant, xero_app):
    xero_tenant_set_limits(tenant=tenant, minute=None, day=None, concurrent=2)
    policy = xero_limit_policy(app=xero_app, tenant=tenant)
    leases = [limits.acquire_concurrency(policy)[1] for _ in range(2)]  # two calls in flight
    limited = xero.get("/Contacts", spec=False)
    assert limited.status_code == 429 and limited["X-Rate-Limit-Problem"] == "concurrent"
    limits.release_concurrency(leases[0])
    assert xero.get("/Contacts").status_code == 200
    assert ConcurrencyLease.objects.count() == 1  # the finished call gave its slot back


def test_unlimited_tenant_sends_no_tenant_headers(xero, tenant):
    xero_tenant_set_limits(tenant=tenant, minute=None, day=0, concurrent=None)
    response = xero.get("/Contacts")
    assert "X-MinLimit-Remaining" not in response and "X-DayLimit-Remaining" not in response


def test_seeded_faults_are_reproducible(tenant):
    key = str(tenant.tenant_id)
    fault_setting_update(system="xero", tenant_key=key, seed=42, error_rate=0.3, slow_rate=0.5, slow_ms=1)
    first = [fault_plan_draw(system="xero", tenant_key=key, is_write=False) for _ in range(30)]
    fault_setting_update(system="xero", tenant_key=key, seed=43)
    fault_setting_update(system="xero", tenant_key=key, seed=42)
    second = [fault_plan_draw(system="xero", tenant_key=key, is_write=False) for _ in range(30)]
    assert first == second
    errors = sum(1 for plan in first if plan.error_status)
    assert 0 < errors < 30


@pytest.mark.parametrize("status", [500, 503])
def test_error_faults(xero, tenant, status):
    fault_setting_update(system="xero", tenant_key=str(tenant.tenant_id), error_rate=1, error_status=status)
    assert xero.get("/Contacts", spec=False).status_code == status


def test_rate_limit_fault(xero, tenant):
    fault_setting_update(system="xero", tenant_key=str(tenant.tenant_id), rate_limit_rate=1)
    response = xero.get("/Contacts", spec=False)
    assert response.status_code == 429 and response["X-Rate-Limit-Problem"] == "minute" and response["Retry-After"]


def test_drop_after_commit_keeps_the_write(xero, tenant):
    fault_setting_update(system="xero", tenant_key=str(tenant.tenant_id), drop_rate=1)
    response = xero.put("/Contacts", {"Contacts": [{"Name": "Dropped Ltd"}]}, headers={"Idempotency-Key": "drop-1"}, spec=False)
    with pytest.raises(ConnectionDropped):
        b"".join(response.streaming_content)
    assert XeroContact.objects.filter(name="Dropped Ltd").exists()
    # Reads are never dropped; a retry with the same key gets the stored answer, not a duplicate.
    fault_setting_update(system="xero", tenant_key=str(tenant.tenant_id), drop_rate=0)
    retry = xero.put("/Contacts", {"Contacts": [{"Name": "Dropped Ltd"}]}, headers={"Idempotency-Key": "drop-1"})
    assert retry.status_code == 200 and retry.json()["Contacts"][0]["Name"] == "Dropped Ltd"
    assert XeroContact.objects.filter(name="Dropped Ltd").count() == 1


def test_faults_endpoint(client, tenant):
    url = f"/sandbox/faults/xero/{tenant.tenant_id}"
    assert client.get(url).json()["error_rate"] == 0
    changed = client.put(url, {"error_rate": 0.25, "seed": 9, "slow_ms": 100}, content_type="application/json")
    assert changed.status_code == 200 and changed.json()["error_rate"] == 0.25 and changed.json()["seed"] == 9
    assert client.put(url, {"error_rate": 2}, content_type="application/json").status_code == 400
    assert client.put(url, {"nonsense": 1}, content_type="application/json").status_code == 400
    assert client.get("/sandbox/faults/nowhere/x").status_code == 404


def test_window_counter_is_exact_under_concurrent_callers(postgres_only, transactional_db):
    """Twenty threads, each with its own database connection, race for ten calls."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    policy = limits.LimitPolicy(system="xero", windows=[limits.Window("minute", "race", 60, 10, steady_window_offset())])

    def call(_):
        try:
            return limits.consume(policy).allowed
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(call, range(20)))
    assert results.count(True) == 10


def test_concurrency_leases_are_exact_under_concurrent_callers(postgres_only, transactional_db):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    policy = limits.LimitPolicy(system="xero", concurrency_key="tenant:race", concurrency_limit=5)

    def take(_):
        try:
            return limits.acquire_concurrency(policy)[0]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(take, range(12)))
    assert results.count(True) == 5 and ConcurrencyLease.objects.filter(key="tenant:race").count() == 5


def test_guarded_call_serves_any_system(db):
    """The same machinery for another emulator: its own policy, its own fault settings."""
    from sandbox.common.guard import guarded_call

    policy = limits.LimitPolicy(
        system="kashflow",
        windows=[limits.Window("minute", "company:7:minute", 60, 2, steady_window_offset())],
        concurrency_key="company:7",
        concurrency_limit=1,
    )
    with guarded_call(policy=policy, tenant_key="7", is_write=False) as call:
        assert not call.rejected and call.remaining == {"minute": 1}
        assert ConcurrencyLease.objects.filter(system="kashflow").count() == 1
        with guarded_call(policy=policy, tenant_key="7", is_write=False) as second:
            assert second.rejected == "concurrent"
    assert ConcurrencyLease.objects.filter(system="kashflow").count() == 0
    with guarded_call(policy=policy, tenant_key="7", is_write=False) as third:
        assert third.rejected == "minute" and third.retry_after
    fault_setting_update(system="kashflow", tenant_key="8", rate_limit_rate=1)
    other = limits.LimitPolicy(system="kashflow", windows=[])
    with guarded_call(policy=other, tenant_key="8", is_write=True) as injected:
        assert injected.rejected == "injected"
