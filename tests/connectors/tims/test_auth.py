"""TIMS client credentials: one token shared by every call and every worker, renewed a minute
before expiry and once after a 401, under the token store's lock; endpoints per base URL."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from connectors.base import ConnectionSettings, ConnectorError, InMemoryTokenStore, TokenSet
from connectors.tims import TimsEndpoints, connect, tims_oauth
from tests.connectors.tims.conftest import SETTINGS
from tests.connectors.tims.fakes import CLIENT_SECRET, example


def test_the_token_is_asked_for_once_and_kept_in_the_store(client, fake, store):
    fake.put("customers", example("Customer"))
    for _ in range(5):
        list(client.list_customers())
    assert fake.token_calls == 1 and store.saves == 1
    tokens = store.load()
    assert tokens.refresh_token is None  # client credentials issue none
    assert tokens.expires_at - datetime.now(timezone.utc) > timedelta(minutes=59)
    assert "customers:read" in tokens.scope.split()


def test_a_token_about_to_expire_is_replaced_before_the_call(fake, store):
    fake.put("customers", example("Customer"))
    store.save(TokenSet(access_token="tims_at_old", expires_at=datetime.now(timezone.utc) + timedelta(seconds=30)))
    client = connect(SETTINGS, token_store=store, sleep=lambda s: None)
    list(client.list_customers())
    assert fake.token_calls == 1 and store.load().access_token != "tims_at_old"
    assert all(r.headers["Authorization"] != "Bearer tims_at_old" for r in fake.requests if r.url.path.startswith("/api/"))


def test_two_workers_with_a_stale_token_make_one_token_request(fake):
    """Two clients (two workers) share one store; the site is slow to answer the token
    request, so both find the token missing at once: the lock makes the second wait and reuse
    the first one's token."""
    fake.put("customers", example("Customer"))
    fake.token_delay = 0.3
    store = InMemoryTokenStore()
    clients = [connect(SETTINGS, token_store=store, sleep=lambda s: None) for _ in range(2)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(client):
        try:
            barrier.wait()
            assert len(list(client.list_customers())) == 1
        except BaseException as exc:  # surfaced below: a thread's assertion is not the test's
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not errors
    assert fake.token_calls == 1 and store.saves == 1


def test_a_401_with_a_token_another_worker_already_replaced_asks_for_none(fake):
    fake.put("customers", example("Customer"))
    store = InMemoryTokenStore()
    first = connect(SETTINGS, token_store=store, sleep=lambda s: None)
    second = connect(SETTINGS, token_store=store, sleep=lambda s: None)
    list(first.list_customers())
    list(second.list_customers())
    assert fake.token_calls == 1
    fake.revoke_tokens()
    list(first.list_customers())  # 401: a new token for everyone
    list(second.list_customers())  # 401 with the old token: the store already holds a new one
    assert fake.token_calls == 2


def test_endpoints_for_a_site_an_adapter_and_the_sandbox():
    site = TimsEndpoints.from_base_url("https://acme.tims-cloud.example/")
    assert site.api_root == "https://acme.tims-cloud.example/api/v1/" and site.token_url == "https://acme.tims-cloud.example/oauth/token"
    adapter = TimsEndpoints.from_base_url("https://tims.plant.acme.internal:8443/erp")
    assert adapter.token_url == "https://tims.plant.acme.internal:8443/erp/oauth/token"
    for base in ("http://127.0.0.1:8000/sandbox", "http://127.0.0.1:8000/sandbox/tims/acme"):
        sandbox = TimsEndpoints.from_base_url(base, site="acme")
        assert sandbox.api_root == "http://127.0.0.1:8000/sandbox/tims/acme/api/v1/"
        assert sandbox.token_url == "http://127.0.0.1:8000/sandbox/tims/acme/oauth/token"
    assert TimsEndpoints.from_base_url("http://web:8000/sandbox", site="acme").base_url == "http://web:8000/sandbox/tims/acme"
    assert TimsEndpoints.from_base_url("http://localhost:9000").api_root == "http://localhost:9000/api/v1/"


@pytest.mark.parametrize(
    ("base_url", "code"),
    [("", "no_base_url"), ("http://tims.plant.acme.internal", "insecure_base_url"), ("ftp://tims.example", "bad_base_url"),
     ("http://127.0.0.1:8000/sandbox", "no_site")],
)
def test_bad_base_urls_are_refused_with_a_reason(base_url, code):
    with pytest.raises(ConnectorError) as caught:
        TimsEndpoints.from_base_url(base_url)
    assert caught.value.code == code and caught.value.message


def test_missing_credentials_are_named():
    settings = ConnectionSettings(system="tims", base_url="https://tims.example.com", credentials={"client_id": "x"})
    with pytest.raises(ConnectorError, match="client_secret"):
        tims_oauth(settings)


def test_scopes_from_the_credentials(fake):
    settings = ConnectionSettings(system="tims", base_url=SETTINGS.base_url, credentials={**SETTINGS.credentials, "scopes": "customers:read gl:read"})
    oauth = tims_oauth(settings)
    assert oauth.request_token().scope == "customers:read gl:read"
    assert CLIENT_SECRET not in repr(oauth)


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_the_connection_row_make_one_token_request(fake):
    """The engine's token store: a row lock on PostgreSQL (a file lock on SQLite) around the
    token request, so two workers whose token is missing ask the site once between them."""
    from django.db import connection as db

    from integrations.adapters import ConnectionTokenStore
    from integrations.models import AuthKind, System
    from tests.factories import make_connection

    fake.put("customers", example("Customer"))
    fake.token_delay = 0.3
    row = make_connection(system=System.TIMS, auth_kind=AuthKind.OAUTH2_CLIENT_CREDENTIALS, tenant_id="acme-leeds")
    row.set_credentials(dict(SETTINGS.credentials))
    row.save()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker():
        try:
            client = connect(SETTINGS, token_store=ConnectionTokenStore(row.pk), sleep=lambda s: None)
            barrier.wait()
            assert len(list(client.list_customers())) == 1
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not errors
    assert fake.token_calls == 1
    stored = ConnectionTokenStore(row.pk).load()
    assert stored.access_token in fake.tokens and stored.refresh_token is None
