"""classify, the exceptions, TokenSet and the registry."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from connectors.base import (
    Action,
    AuthError,
    ConnectorError,
    ConnectorRegistry,
    ErrorClass,
    InMemoryTokenStore,
    MappingFailed,
    NotFound,
    RateLimited,
    ReauthorizationRequired,
    TokenSet,
    TransientError,
    UnknownOutcome,
    ValidationFailed,
    classify,
    registry,
)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(200), (Action.NONE, None)),
        (httpx.Response(500), (Action.RETRY, ErrorClass.TRANSIENT)),
        (httpx.Response(503, text="Organisation offline"), (Action.RETRY, ErrorClass.TRANSIENT)),
        (httpx.Response(429, headers={"Retry-After": "5"}), (Action.WAIT, ErrorClass.RATE_LIMITED)),
        (httpx.Response(401), (Action.REFRESH_AUTH, ErrorClass.AUTH)),
        (httpx.Response(400, json={"error": "invalid_grant"}), (Action.REAUTHORIZE, ErrorClass.AUTH)),
        (httpx.Response(401, json={"error": "invalid_client"}), (Action.REAUTHORIZE, ErrorClass.AUTH)),
        (httpx.Response(400, json={"error": "unauthorized_client"}), (Action.REAUTHORIZE, ErrorClass.AUTH)),
        (httpx.Response(400, json={"error": "unsupported_grant_type"}), (Action.FAIL, ErrorClass.VALIDATION)),
        (httpx.Response(403, json={"Detail": "AuthenticationUnsuccessful"}), (Action.REAUTHORIZE, ErrorClass.AUTH)),
        (httpx.Response(400, json={"Type": "ValidationException"}), (Action.FAIL, ErrorClass.VALIDATION)),
        (httpx.Response(400, text="not json"), (Action.FAIL, ErrorClass.VALIDATION)),
        (httpx.Response(404), (Action.FAIL, ErrorClass.NOT_FOUND)),
        (httpx.Response(409), (Action.FAIL, ErrorClass.CONFLICT)),
    ],
)
def test_classify_responses(response, expected):
    assert classify(response) == expected


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ReadTimeout("slow"), (Action.RETRY, ErrorClass.TRANSIENT)),
        (httpx.ConnectError("refused"), (Action.RETRY, ErrorClass.TRANSIENT)),
        (TransientError("x"), (Action.RETRY, ErrorClass.TRANSIENT)),
        (RateLimited("x", retry_after=3), (Action.WAIT, ErrorClass.RATE_LIMITED)),
        (AuthError("x"), (Action.REFRESH_AUTH, ErrorClass.AUTH)),
        (ReauthorizationRequired("x"), (Action.REAUTHORIZE, ErrorClass.AUTH)),
        (UnknownOutcome("x"), (Action.VERIFY, ErrorClass.TRANSIENT)),
        (ValidationFailed("x", elements=[{"index": 0, "messages": ["m"]}]), (Action.FAIL, ErrorClass.VALIDATION)),
        (NotFound("x"), (Action.FAIL, ErrorClass.NOT_FOUND)),
        (MappingFailed("x"), (Action.FAIL, ErrorClass.MAPPING)),
        (KeyError("boom"), (Action.FAIL, ErrorClass.ANOMALY)),
    ],
)
def test_classify_exceptions(exc, expected):
    assert classify(exc) == expected


def test_connector_error_carries_code_message_and_response():
    error = ValidationFailed("Name is required", code="ValidationException", response={"Elements": []}, status_code=400, elements=[{"index": 1, "messages": ["Name is required"]}])
    assert (error.message, error.code, error.status_code, error.response) == ("Name is required", "ValidationException", 400, {"Elements": []})
    assert error.elements == [{"index": 1, "messages": ["Name is required"]}]
    assert isinstance(error, ConnectorError) and str(error) == "Name is required"
    assert RateLimited("slow down", retry_after=7, problem="minute").retry_after == 7


def test_token_set_round_trip_and_no_secret_in_repr():
    tokens = TokenSet(access_token="AT-secret", refresh_token="RT-secret", expires_at=datetime(2026, 11, 21, 6, 0, tzinfo=timezone.utc), scope="offline_access")
    assert TokenSet.from_dict(tokens.to_dict()) == tokens
    assert "secret" not in repr(tokens)
    assert tokens.expires_within(300, now=datetime(2026, 11, 21, 5, 56, tzinfo=timezone.utc))
    assert not tokens.expires_within(300, now=datetime(2026, 11, 21, 5, 50, tzinfo=timezone.utc))
    with pytest.raises(ValueError):
        TokenSet.from_dict({**tokens.to_dict(), "expires_at": "2026-11-21T06:00:00"})


def test_in_memory_token_store_saves_under_its_lock():
    first = TokenSet(access_token="a", expires_at=datetime.now(timezone.utc))
    store = InMemoryTokenStore(first)
    with store.locked() as tokens:
        assert tokens == first
        second = TokenSet(access_token="b", expires_at=datetime.now(timezone.utc) + timedelta(minutes=30))
        store.save(second)
    assert store.load() == second and store.saves == 1


def test_registry_finds_xero_by_name_and_refuses_unknown_systems():
    from connectors.xero import connect

    assert registry.get("xero") is connect
    assert "xero" in registry.systems()
    with pytest.raises(LookupError):
        registry.get("quickbooks")


def test_registry_refuses_a_second_connector_for_one_system():
    local = ConnectorRegistry(package="connectors")
    local.register("demo", lambda *a, **k: None)
    with pytest.raises(ValueError):
        local.register("demo", lambda *a, **k: None)
