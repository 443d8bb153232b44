"""Over real HTTP (pytest-django's live_server): Xero's own Python SDK, unchanged, against the
sandbox; and a dropped connection seen by httpx as a transport error."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from sandbox.common.faults import fault_setting_update
from sandbox.models import XeroContact
from sandbox.xero.services import xero_app_create, xero_connect, xero_tenant_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def connected(live_server):
    tenant = xero_tenant_create(name="Live Org (UK)", with_samples=True)
    app = xero_app_create(name="Live app", redirect_uris=["http://localhost/callback"])
    tokens = xero_connect(app=app, tenants=[tenant])
    return app, tenant, tokens


def test_xero_python_sdk_creates_and_lists_contacts_and_invoices(live_server, connected):
    from xero_python.accounting import AccountingApi
    from xero_python.accounting.models import Contact, Contacts, Invoice, Invoices, LineItem
    from xero_python.api_client import ApiClient
    from xero_python.api_client.configuration import Configuration
    from xero_python.api_client.oauth2 import OAuth2Token
    from xero_python.identity import IdentityApi

    app, tenant, tokens = connected
    store = {"token": dict(tokens)}
    api_client = ApiClient(
        Configuration(oauth2_token=OAuth2Token(client_id=app.client_id, client_secret=app.client_secret)),
        oauth2_token_getter=lambda: store["token"],
        oauth2_token_saver=lambda token: store.update(token=token),
    )
    api_client.set_oauth2_token(dict(tokens))
    base = f"{live_server.url}/sandbox/xero"

    connections = IdentityApi(api_client, base_url=base).get_connections()
    assert [str(c.tenant_id) for c in connections] == [str(tenant.tenant_id)]

    accounting = AccountingApi(api_client, base_url=f"{base}/api.xro/2.0")
    tenant_id = str(tenant.tenant_id)
    created = accounting.create_contacts(
        tenant_id, contacts=Contacts(contacts=[Contact(name="SDK Customer", contact_number="SDK-1", email_address="sdk@example.com")])
    )
    contact = created.contacts[0]
    assert contact.contact_id and contact.name == "SDK Customer"

    invoice = Invoice(
        type="ACCREC",
        contact=Contact(contact_id=contact.contact_id),
        date=date(2026, 3, 1),
        due_date=date(2026, 3, 31),
        line_items=[LineItem(description="Widgets", quantity=3.0, unit_amount=12.5, account_code="200", tax_type="OUTPUT2")],
        status="AUTHORISED",
        reference="SO-1001",
    )
    saved = accounting.create_invoices(tenant_id, invoices=Invoices(invoices=[invoice]), summarize_errors=False)
    first = saved.invoices[0]
    assert first.status_attribute_string == "OK"
    assert first.total == 45.0 and first.total_tax == 7.5 and first.date == date(2026, 3, 1)

    listed = accounting.get_invoices(tenant_id, page=1, where='Reference=="SO-1001"')
    assert [i.invoice_id for i in listed.invoices] == [first.invoice_id]
    assert listed.pagination.item_count == 1
    contacts = accounting.get_contacts(tenant_id, i_ds=[contact.contact_id])
    assert contacts.contacts[0].contact_number == "SDK-1"


def test_dropped_connection_is_a_transport_error_after_commit(live_server, connected):
    app, tenant, tokens = connected
    fault_setting_update(system="xero", tenant_key=str(tenant.tenant_id), drop_rate=1)
    with httpx.Client(base_url=f"{live_server.url}/sandbox/xero/api.xro/2.0", timeout=10) as client:
        with pytest.raises(httpx.TransportError) as raised:
            client.put(
                "/Contacts",
                json={"Contacts": [{"Name": "Lost Answer Ltd"}]},
                headers={"Authorization": f"Bearer {tokens['access_token']}", "xero-tenant-id": str(tenant.tenant_id)},
            )
    # Broken mid-body at once, not a read timeout waiting for bytes that never come.
    assert not isinstance(raised.value, httpx.TimeoutException), raised.value
    assert XeroContact.objects.filter(name="Lost Answer Ltd").exists()


def test_five_calls_in_flight_per_tenant(live_server, connected):
    """Real parallel calls held open by a slow-response fault: the sixth and later get 429
    concurrent while five are in flight (api-notes §2)."""
    from concurrent.futures import ThreadPoolExecutor

    app, tenant, tokens = connected
    fault_setting_update(system="xero", tenant_key=str(tenant.tenant_id), slow_rate=1, slow_ms=1500)
    headers = {"Authorization": f"Bearer {tokens['access_token']}", "xero-tenant-id": str(tenant.tenant_id)}

    def call(_):
        with httpx.Client(timeout=20) as client:
            response = client.get(f"{live_server.url}/sandbox/xero/api.xro/2.0/Organisation", headers=headers)
            return response.status_code, response.headers.get("X-Rate-Limit-Problem")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, range(8)))
    assert results.count((200, None)) >= 1
    assert (429, "concurrent") in results
    assert sum(1 for status, _ in results if status == 200) <= 5
