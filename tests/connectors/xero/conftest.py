from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import respx

from connectors.base import ConnectionSettings, InMemoryTokenStore, MemoryCallRecorder, TokenSet
from connectors.xero import connect, xero_oauth
from tests.connectors.xero.fakes import CLIENT_ID, CLIENT_SECRET, TENANT_ID, FakeXero

SETTINGS = ConnectionSettings(
    system="xero",
    tenant_id=TENANT_ID,
    credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": "https://portal.example/xero/callback"},
)


@pytest.fixture
def fake():
    xero = FakeXero()
    with respx.mock(assert_all_called=False) as router:
        xero.install(router)
        yield xero


def token_set(fake: FakeXero, *, expires_in: float = 1800) -> TokenSet:
    access, refresh = fake.issue_tokens()
    return TokenSet(access_token=access, refresh_token=refresh, expires_at=datetime.now(timezone.utc) + timedelta(seconds=expires_in))


@pytest.fixture
def store(fake):
    return InMemoryTokenStore(token_set(fake))


@pytest.fixture
def recorder():
    return MemoryCallRecorder()


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(fake, store, recorder, sleeps):
    xero = connect(SETTINGS, token_store=store, recorder=recorder, sleep=sleeps.append)
    yield xero
    xero.close()


@pytest.fixture
def oauth(fake, recorder, sleeps):
    return xero_oauth(SETTINGS, recorder=recorder, sleep=sleeps.append)
