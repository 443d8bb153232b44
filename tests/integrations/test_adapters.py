"""The connector adapters over the models: row-locked token store, the API call log."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection as db

from connectors.base import CallRecord, RateObservation, TokenSet
from integrations.adapters import ApiCallRecorder, ConnectionTokenStore
from integrations.models import ApiCall, Connection
from tests.factories import make_connection

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)


def _tokens(access: str, refresh: str, minutes: int = 30) -> TokenSet:
    return TokenSet(access_token=access, refresh_token=refresh, expires_at=datetime.now(timezone.utc) + timedelta(minutes=minutes))


@pytest.mark.django_db
def test_tokens_are_saved_encrypted_without_a_history_row():
    connection = make_connection()
    connection.set_credentials({"client_id": "id", "client_secret": "shh"})
    connection.save()
    history_rows = connection.history.count()
    store = ConnectionTokenStore(connection.pk)
    assert store.load() is None
    with store.locked() as tokens:
        assert tokens is None
        store.save(_tokens("at-1", "rt-1"))
    loaded = store.load()
    assert (loaded.access_token, loaded.refresh_token) == ("at-1", "rt-1")
    connection.refresh_from_db()
    assert connection.get_credentials()["client_secret"] == "shh"
    assert connection.token_expires_at == loaded.expires_at
    assert connection.history.count() == history_rows


@pytest.mark.django_db(transaction=True)
def test_two_workers_refreshing_at_once_refresh_once():
    """A row lock on PostgreSQL, a file lock on SQLite: either way one refresh."""
    connection = make_connection()
    connection.set_credentials({"token": _tokens("at-0", "rt-0", minutes=-1).to_dict()})
    connection.save()
    refreshes = []

    def worker():
        store = ConnectionTokenStore(connection.pk)
        with store.locked() as tokens:
            if tokens.expires_within(60):
                refreshes.append(tokens.refresh_token)
                time.sleep(0.3)  # the remote call, while the other worker waits on the row
                store.save(_tokens(f"at-{len(refreshes)}", f"rt-{len(refreshes)}"))
        db.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert refreshes == ["rt-0"]
    assert ConnectionTokenStore(connection.pk).load().refresh_token == "rt-1"


@pytest.mark.django_db
def test_calls_are_logged_and_feed_the_connections_budget():
    connection = make_connection()
    recorder = ApiCallRecorder(connection.pk)
    recorder.record(CallRecord(
        method="POST", path="/api.xro/2.0/Invoices?summarizeErrors=false", status_code=200, duration_ms=412,
        attempt=1, started_at=NOW, idempotency_key="batch-1", correlation_id="not-a-uuid",
        rate=RateObservation(remaining={"minute": 41, "day": 4210}),
    ))
    call = ApiCall.objects.get()
    assert (call.path, call.status_code, call.idempotency_key, call.correlation_id) == (
        "/api.xro/2.0/Invoices?summarizeErrors=false", 200, "batch-1", None)
    connection = Connection.objects.get(pk=connection.pk)
    assert (connection.rate_minute_remaining, connection.rate_day_remaining) == (41, 4210)
