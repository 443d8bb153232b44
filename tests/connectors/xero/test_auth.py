"""Xero OAuth: authorise URL, code exchange, rotating refresh under the store's lock, client
credentials, /connections."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from connectors.base import AuthError, InMemoryTokenStore, ReauthorizationRequired, TokenSet
from connectors.xero import XeroEndpoints, connect
from tests.connectors.xero.conftest import SETTINGS, token_set
from tests.connectors.xero.fakes import CLIENT_SECRET, TENANT_ID


def test_authorization_url_carries_state_scopes_and_redirect(oauth):
    url, state = oauth.authorization_url()
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://login.xero.com/identity/connect/authorize"
    assert query["response_type"] == ["code"]
    assert query["client_id"] == ["CLIENTID123"]
    assert query["redirect_uri"] == ["https://portal.example/xero/callback"]
    assert query["state"] == [state] and len(state) >= 32
    scopes = query["scope"][0].split()
    assert "offline_access" in scopes and "accounting.invoices" in scopes
    assert oauth.authorization_url()[1] != state  # a fresh state every time


def test_exchange_code_checks_state_then_returns_tokens(oauth, fake, recorder):
    fake.codes["the-code"] = "https://portal.example/xero/callback"
    with pytest.raises(AuthError) as caught:
        oauth.exchange_code("the-code", state="forged", expected_state="expected")
    assert caught.value.code == "state_mismatch"
    assert fake.token_calls == []
    tokens = oauth.exchange_code("the-code", state="expected", expected_state="expected")
    assert tokens.access_token in fake.access_tokens
    assert tokens.refresh_token in fake.refresh_tokens
    assert tokens.expires_at - datetime.now(timezone.utc) > timedelta(minutes=29)
    assert fake.token_calls[-1]["grant_type"] == ["authorization_code"]
    # Neither the code nor any token reaches the call log or a repr.
    logged = repr(recorder.calls)
    assert "the-code" not in logged and tokens.access_token not in logged and CLIENT_SECRET not in logged
    assert tokens.access_token not in repr(tokens) and CLIENT_SECRET not in repr(oauth)


def test_refresh_rotates_and_saves_the_new_pair(oauth, fake):
    old = token_set(fake, expires_in=10)
    store = InMemoryTokenStore(old)
    fresh = oauth.refresh(store)
    assert fresh.refresh_token != old.refresh_token
    assert store.load() == fresh and store.saves == 1
    assert old.refresh_token in fake.spent_refresh_tokens


def test_refresh_is_skipped_when_the_stored_token_is_still_fresh(oauth, fake):
    store = InMemoryTokenStore(token_set(fake))
    assert oauth.refresh(store) == store.load()
    assert fake.token_calls == []


def test_invalid_grant_means_reauthorisation(oauth, fake):
    stale = TokenSet(access_token="at-old", refresh_token="rt-revoked", expires_at=datetime.now(timezone.utc))
    with pytest.raises(ReauthorizationRequired) as caught:
        oauth.refresh(InMemoryTokenStore(stale))
    assert caught.value.code == "invalid_grant"
    assert len(fake.token_calls) == 1  # not retried


def test_two_threads_refreshing_at_once_refresh_exactly_once(fake, recorder):
    store = InMemoryTokenStore(token_set(fake, expires_in=5))  # inside the refresh leeway
    fake.refresh_delay = 0.2  # hold the first refresh open while the second thread arrives
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def work() -> None:
        client = connect(SETTINGS, token_store=store, recorder=recorder)
        start.wait()
        try:
            outcomes.append(client.check()["organisation_id"])
        except Exception as exc:  # collected: the assertion below names it
            outcomes.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == [TENANT_ID, TENANT_ID]
    assert len(fake.token_calls) == 1
    assert store.saves == 1


def test_401_triggers_one_refresh_and_a_second_401_is_an_auth_error(client, fake, store):
    for _ in range(2):
        fake.answer_next(lambda r: True, lambda: httpx.Response(401, json={"Title": "Unauthorized", "Status": 401, "Detail": "TokenExpired: token expired at 11/21/2026"}))
    with pytest.raises(AuthError) as caught:
        client.check()
    assert not isinstance(caught.value, ReauthorizationRequired)
    assert caught.value.message.startswith("TokenExpired")
    assert len(fake.token_calls) == 1


def test_refresh_whose_answer_was_lost_is_asked_again_with_the_same_token(oauth, fake):
    store = InMemoryTokenStore(token_set(fake, expires_in=0))
    old_refresh = store.load().refresh_token
    fake.lose_next_token_answer = True
    fresh = oauth.refresh(store)
    assert [c["refresh_token"] for c in fake.token_calls] == [[old_refresh], [old_refresh]]
    assert store.load() == fresh and fresh.refresh_token in fake.refresh_tokens


def test_wrong_client_secret_needs_a_person(fake):
    from connectors.base import ConnectionSettings
    from connectors.xero import xero_oauth

    wrong = ConnectionSettings(system="xero", credentials={"client_id": "CLIENTID123", "client_secret": "not-the-secret"})
    with pytest.raises(ReauthorizationRequired) as caught:
        xero_oauth(wrong).client_credentials()
    assert caught.value.code == "invalid_client"
    assert "not-the-secret" not in repr(caught.value) and "not-the-secret" not in str(caught.value.response)


def test_client_credentials_for_a_custom_connection(oauth, fake):
    tokens = oauth.client_credentials()
    assert tokens.refresh_token is None
    assert fake.token_calls[-1]["grant_type"] == ["client_credentials"]
    # Renewal of a custom connection asks for a new token again, under the same lock.
    store = InMemoryTokenStore(TokenSet(access_token=tokens.access_token, expires_at=datetime.now(timezone.utc)))
    renewed = oauth.refresh(store)
    assert renewed.access_token != tokens.access_token
    assert fake.token_calls[-1]["grant_type"] == ["client_credentials"]


def test_list_and_delete_connections(oauth, fake):
    access = token_set(fake).access_token
    tenants = oauth.list_connections(access)
    assert [(t.tenant_id, t.tenant_type, t.tenant_name) for t in tenants] == [(TENANT_ID, "ORGANISATION", "Maple Florists Ltd")]
    assert tenants[0].created_at.tzinfo is timezone.utc
    assert oauth.list_connections(access, auth_event_id="another-consent") == []
    oauth.delete_connection(access, tenants[0].connection_id)
    assert oauth.list_connections(access) == []


def test_endpoints_for_the_sandbox_and_production():
    sandbox = XeroEndpoints.from_base_url("http://127.0.0.1:8000/sandbox")
    assert sandbox.api_root == "http://127.0.0.1:8000/sandbox/xero/api.xro/2.0/"
    assert sandbox.token_url == "http://127.0.0.1:8000/sandbox/xero/identity/connect/token"
    assert sandbox.authorize_url == "http://127.0.0.1:8000/sandbox/xero/identity/connect/authorize"
    assert sandbox.connections_url == "http://127.0.0.1:8000/sandbox/xero/connections"
    assert XeroEndpoints.from_base_url("http://h/sandbox/xero/") == sandbox.__class__.from_base_url("http://h/sandbox")
    assert XeroEndpoints.from_base_url("") == XeroEndpoints.production()
    assert XeroEndpoints.production().api_root == "https://api.xero.com/api.xro/2.0/"
