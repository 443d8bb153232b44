from __future__ import annotations

import pytest
import respx

from connectors.base import ConnectionSettings, InMemoryTokenStore, MemoryCallRecorder
from connectors.tims import connect
from tests.connectors.tims.fakes import BASE, CLIENT_ID, CLIENT_SECRET, FakeTims

SETTINGS = ConnectionSettings(
    system="tims",
    base_url=BASE,
    tenant_id="acme-leeds",
    credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
)


@pytest.fixture
def fake():
    tims = FakeTims()
    with respx.mock(assert_all_called=False) as router:
        tims.install(router)
        yield tims


@pytest.fixture
def store():
    return InMemoryTokenStore()


@pytest.fixture
def recorder():
    return MemoryCallRecorder()


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(fake, store, recorder, sleeps):
    tims = connect(SETTINGS, token_store=store, recorder=recorder, sleep=sleeps.append, page_size=2)
    yield tims
    tims.close()
