"""Idempotency-Key on writes: replay, reuse with another body, keys per client, what is not
stored (5xx, 429), and a dropped connection settled by the replay."""

from __future__ import annotations

import pytest

from sandbox.common import idempotency
from sandbox.common.faults import ConnectionDropped, fault_setting_update
from sandbox.models import TimsCustomer
from sandbox.tims.services import tims_access_token, tims_client_create
from tests.sandbox.tims_support import TimsApi, problem_type

V1 = "/api/v1"
BODY = {"name": "Northern Welding Supplies Ltd", "currency": "GBP", "external_refs": {"xero": "6b9d0e5c"}}


def test_replay_returns_the_first_answer(tims):
    key = {"Idempotency-Key": "lb:conn_42:xero-contacts:6b9d0e5c:1f0c9a7e"}
    first = tims.post(f"{V1}/customers", BODY, headers=key)
    # The same body with its keys in another order and other spacing is the same request.
    again = tims.call("POST", f"{V1}/customers", raw=b'{"external_refs":{"xero":"6b9d0e5c"}, "currency":"GBP","name":"Northern Welding Supplies Ltd"}', headers=key)
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert (again.content, again["Location"], again["ETag"]) == (first.content, first["Location"], first["ETag"])
    assert TimsCustomer.objects.count() == 1


def test_errors_are_replayed_too(tims):
    key = {"Idempotency-Key": "bad-body"}
    first = tims.post(f"{V1}/customers", {"name": "x"}, headers=key)
    again = tims.post(f"{V1}/customers", {"name": "x"}, headers=key)
    assert first.status_code == again.status_code == 422 and again["Idempotent-Replayed"] == "true"


def test_same_key_other_request_is_422(tims):
    key = {"Idempotency-Key": "k-1"}
    assert tims.post(f"{V1}/customers", BODY, headers=key).status_code == 201
    other = tims.post(f"{V1}/customers", {**BODY, "name": "Other"}, headers=key)
    assert other.status_code == 422 and problem_type(other) == "idempotency-key-reused"
    other_path = tims.post(f"{V1}/vendors", {"name": "V", "currency": "GBP"}, headers=key)
    assert problem_type(other_path) == "idempotency-key-reused"


def test_keys_are_case_sensitive_and_per_client(tims, client, tims_site):
    assert tims.post(f"{V1}/customers", {"name": "A", "currency": "GBP"}, headers={"Idempotency-Key": "Key"}).status_code == 201
    assert tims.post(f"{V1}/customers", {"name": "B", "currency": "GBP"}, headers={"Idempotency-Key": "key"}).status_code == 201
    second = tims_client_create(site=tims_site, name="Another integration")
    other = TimsApi(client, tims_site.code, tims_access_token(client=second)["access_token"])
    answer = other.post(f"{V1}/customers", {"name": "C", "currency": "GBP"}, headers={"Idempotency-Key": "Key"})
    assert answer.status_code == 201 and "Idempotent-Replayed" not in answer


def test_long_keys_and_bad_keys(tims):
    long_key = "lb:" + "x" * 250
    assert tims.post(f"{V1}/customers", BODY, headers={"Idempotency-Key": long_key}).status_code == 201
    assert tims.post(f"{V1}/customers", BODY, headers={"Idempotency-Key": long_key})["Idempotent-Replayed"] == "true"
    for bad in ("with space", "x" * 256):
        response = tims.post(f"{V1}/customers", {"name": "Z", "currency": "GBP"}, headers={"Idempotency-Key": bad})
        assert response.status_code == 400 and problem_type(response) == "bad-request"


def test_in_progress_is_409_with_retry_after(tims, tims_client):
    # A claimed key without a stored answer is a request still running.
    canonical = b'{"currency":"GBP","external_refs":{"xero":"6b9d0e5c"},"name":"Northern Welding Supplies Ltd"}'
    fingerprint = idempotency.request_fingerprint(method="POST", path="/sandbox/tims/acme/api/v1/customers", query="", body=canonical)
    idempotency.idempotency_claim(system="tims", scope=tims_client.client_id, key="busy", fingerprint=fingerprint, ttl_seconds=60, fold_case=False)
    busy = tims.post(f"{V1}/customers", BODY, headers={"Idempotency-Key": "busy"})
    assert busy.status_code == 409 and problem_type(busy) == "idempotency-key-in-use" and busy["Retry-After"] == "1"
    assert not TimsCustomer.objects.exists()


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_not_stored(tims, tims_site, status):
    fault_setting_update(system="tims", tenant_key=tims_site.code, error_rate=1, error_status=status)
    failed = tims.post(f"{V1}/customers", BODY, headers={"Idempotency-Key": "retry-me"})
    assert failed.status_code == status and problem_type(failed) == {500: "internal-error", 503: "unavailable"}[status]
    assert not TimsCustomer.objects.exists()
    fault_setting_update(system="tims", tenant_key=tims_site.code, error_rate=0)
    retried = tims.post(f"{V1}/customers", BODY, headers={"Idempotency-Key": "retry-me"})
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried


def test_dropped_answer_then_replay(tims, tims_site):
    fault_setting_update(system="tims", tenant_key=tims_site.code, drop_rate=1)
    dropped = tims.post(f"{V1}/customers", BODY, headers={"Idempotency-Key": "drop-1"}, spec=False)
    with pytest.raises(ConnectionDropped):
        b"".join(dropped.streaming_content)
    assert TimsCustomer.objects.count() == 1  # the write was committed
    fault_setting_update(system="tims", tenant_key=tims_site.code, drop_rate=0)
    retry = tims.post(f"{V1}/customers", BODY, headers={"Idempotency-Key": "drop-1"})
    assert retry.status_code == 201 and retry["Idempotent-Replayed"] == "true"
    # After the key is forgotten, the external ref still stops a second customer.
    late = tims.post(f"{V1}/customers", BODY, headers={"Idempotency-Key": "drop-2"})
    assert late.status_code == 409 and late.json()["existing_id"] == retry.json()["id"]
