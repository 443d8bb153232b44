"""The OAuth pieces shared by connectors."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest

from connectors.base import AuthError, InMemoryTokenStore, ReauthorizationRequired, TokenSet
from connectors.oauth import BearerAuthenticator, basic_auth, no_tokens, renew_under_lock, token_set_from_response


def tokens(access: str, *, minutes: float = 30, refresh: str | None = "rt") -> TokenSet:
    return TokenSet(access_token=access, refresh_token=refresh, expires_at=datetime.now(timezone.utc) + timedelta(minutes=minutes))


def test_basic_auth_form_encodes_before_joining():
    header = basic_auth("id:with colon", "sec/ret+")
    assert base64.b64decode(header.removeprefix("Basic ")).decode() == "id%3Awith%20colon:sec%2Fret%2B"


def test_token_set_from_response():
    fresh = token_set_from_response({"access_token": "a", "refresh_token": "r", "expires_in": 60, "scope": "x y"}, default_expires_in=1800)
    assert fresh.refresh_token == "r" and fresh.scope == "x y"
    assert timedelta(seconds=55) < fresh.expires_at - datetime.now(timezone.utc) <= timedelta(seconds=60)
    assert token_set_from_response({"access_token": "a"}, default_expires_in=1800).refresh_token is None
    with pytest.raises(AuthError):
        token_set_from_response({"error": "x"}, default_expires_in=1800)


def test_renew_under_lock_asks_only_when_needed():
    grants = []

    def grant(current):
        grants.append(current)
        return tokens(f"new-{len(grants)}")

    store = InMemoryTokenStore(tokens("fresh"))
    assert renew_under_lock(store, grant, leeway=300).access_token == "fresh"
    assert renew_under_lock(store, grant, leeway=300, stale_access_token="someone-elses-old").access_token == "fresh"
    assert renew_under_lock(store, grant, leeway=300, stale_access_token="fresh").access_token == "new-1"
    store.save(tokens("expiring", minutes=1))
    assert renew_under_lock(store, grant, leeway=300).access_token == "new-2"
    assert [g.access_token for g in grants] == ["fresh", "expiring"]
    assert renew_under_lock(InMemoryTokenStore(), grant, leeway=300).access_token == "new-3"
    assert grants[-1] is None
    with pytest.raises(ReauthorizationRequired):
        renew_under_lock(InMemoryTokenStore(), no_tokens, leeway=300)


def test_bearer_authenticator_caches_and_renews_after_a_401():
    store = InMemoryTokenStore(tokens("first"))
    renewals = []

    def renew(s, stale):
        renewals.append(stale)
        fresh = tokens(f"renewed-{len(renewals)}")
        s.save(fresh)
        return fresh

    auth = BearerAuthenticator(store, renew, leeway=300, headers={"tenant": "t1"})
    assert auth.auth_headers() == {"Authorization": "Bearer first", "tenant": "t1"}
    store.save(tokens("changed-elsewhere"))
    assert auth.auth_headers()["Authorization"] == "Bearer first"  # still valid: no store read
    assert auth.handle_unauthorized({"Authorization": "Bearer first"})
    assert renewals == ["first"] and auth.auth_headers()["Authorization"] == "Bearer renewed-1"


def test_bearer_authenticator_renews_an_expiring_token_first():
    store = InMemoryTokenStore(tokens("old", minutes=2))
    auth = BearerAuthenticator(store, lambda s, stale: tokens("new"), leeway=300)
    assert auth.auth_headers()["Authorization"] == "Bearer new"
