"""TIMS webhook signatures and events, against the contract's own test vector."""

from __future__ import annotations

import pytest

from connectors.base import MappingFailed
from connectors.tims import webhooks

SECRET = "whsec_5WbX2cQ9rT4yU7iO1pA3sD6fG8hJ0kLz"
BODY = (b'{"event_id":"evt_01JA2D4F8B0D2F4H6K8M0P2R4T","event_type":"ping","occurred_at":"2026-11-21T06:03:00Z",'
        b'"api_version":"v1","subscription_id":"whs_01J7K9M1P3R5T7V9X1Z3B5D7F9","actor":{"type":"system"},'
        b'"data":{"message":"ping"}}')
HEADER = "t=1795240980,v1=e75e438fce96a4a099fc8f15a8ee902cc901719fa979878c620b0e3d51db330a"


def test_the_contracts_test_vector_verifies():
    assert webhooks.signature_is_valid(BODY, HEADER, SECRET, now=1795240980)


@pytest.mark.parametrize("body,header,secret,now", [
    (BODY + b" ", HEADER, SECRET, 1795240980),                   # body changed
    (BODY, HEADER, SECRET + "x", 1795240980),                    # wrong secret
    (BODY, HEADER, SECRET, 1795240980 + 301),                    # too old: a replay
    (BODY, "v1=e75e438fce96a4a099fc8f15a8ee902cc901719fa979878c620b0e3d51db330a", SECRET, 1795240980),  # no t
    (BODY, "", SECRET, 1795240980),
])
def test_anything_else_is_refused(body, header, secret, now):
    assert not webhooks.signature_is_valid(body, header, secret, now=now)


def test_either_signature_matches_during_a_rotation():
    header = "t=1795240980,v1=" + "0" * 64 + ",v1=e75e438fce96a4a099fc8f15a8ee902cc901719fa979878c620b0e3d51db330a"
    assert webhooks.signature_is_valid(BODY, header, SECRET, now=1795240980)


def test_events_name_the_entity_and_dedup_on_the_event_id():
    assert webhooks.parse(BODY) == []  # ping announces no record
    body = b'{"event_id":"evt_1","event_type":"salesorder.status_changed","data":{"id":"so_9","status":"shipped"}}'
    [event] = webhooks.parse(body)
    assert (event.entity, event.remote_id, event.key) == ("sales_order", "so_9", "tims:evt_1")
    with pytest.raises(MappingFailed):
        webhooks.parse(b"not json")
