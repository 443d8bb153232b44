"""Connect to Xero from the admin, end to end against the sandbox: the Connect button, the
consent page (the person picks an organisation), the callback, encrypted tokens, the tenant."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from integrations.models import ApiCall, AuditEvent, AuthKind, Connection, ConnectionStatus, Environment
from integrations.roles import INTEGRATION_ADMINS

sandbox = pytest.importorskip("sandbox.xero.services", reason="the sandbox app is off (SANDBOX_ENABLED=false)")

pytestmark = pytest.mark.django_db(transaction=True)
CALLBACK = "http://testserver/integrations/oauth/callback/"


@pytest.fixture
def integrator(client):
    user = User.objects.create_user("ines", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=INTEGRATION_ADMINS))
    client.force_login(user)
    return user


@pytest.fixture
def xero(settings, live_server):
    settings.SANDBOX_BASE_URL = f"{live_server.url}/sandbox"
    tenant = sandbox.xero_tenant_create(name="Demo Company (UK)")
    sandbox.xero_tenant_create(name="Another Org Ltd")
    app = sandbox.xero_app_create(name="Ledgerbridge", redirect_uris=[CALLBACK])
    connection = Connection.objects.create(
        name="Xero (sandbox)", system="xero", environment=Environment.SANDBOX,
        auth_kind=AuthKind.OAUTH2_AUTHORIZATION_CODE,
    )
    connection.set_credentials({"client_id": app.client_id, "client_secret": app.client_secret})
    connection.save()
    return connection, tenant


def _local(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path, dict(parse_qsl(parts.query))


def test_connect_consent_and_callback(client, integrator, xero, live_server):
    connection, tenant = xero
    change = client.get(reverse("admin:integrations_connection_change", args=[connection.pk]))
    assert "Connect to Xero" in change.content.decode()

    start = client.post(reverse("integrations:connection_connect", args=[connection.pk]))
    assert start.status_code == 302
    assert start.url.startswith(f"{live_server.url}/sandbox/xero/identity/connect/authorize?")
    path, params = _local(start.url)
    assert params["redirect_uri"] == CALLBACK and "offline_access" in params["scope"]

    consent = client.get(path, params)
    assert consent.status_code == 200
    assert "Demo Company (UK)" in consent.content.decode()
    granted = client.post(path, {**params, "tenant": [str(tenant.tenant_id)], "allow": "1"})
    assert granted.status_code == 302 and granted.url.startswith(CALLBACK)

    callback_path, callback_params = _local(granted.url)
    done = client.get(callback_path, callback_params)
    assert done.status_code == 302 and done.url == reverse("admin:integrations_connection_change", args=[connection.pk])

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE
    assert (connection.tenant_id, connection.tenant_name) == (str(tenant.tenant_id), "Demo Company (UK)")
    credentials = connection.get_credentials()
    assert credentials["token"]["refresh_token"] and connection.token_expires_at
    assert AuditEvent.objects.filter(action="connection.connected", actor=integrator).count() == 1
    assert ApiCall.objects.filter(connection=connection, status_code=200).count() == 2  # token, connections
    page = client.get(reverse("admin:integrations_connection_change", args=[connection.pk])).content.decode()
    assert credentials["token"]["access_token"] not in page and "Reconnect" in page


def test_a_forged_or_stale_state_is_refused(client, integrator, xero):
    response = client.get(reverse("integrations:oauth_callback"), {"code": "x", "state": "forged"})
    assert response.status_code == 302
    connection, _ = xero
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.PENDING


def test_denied_consent_leaves_the_connection_unconnected(client, integrator, xero):
    connection, _ = xero
    start = client.post(reverse("integrations:connection_connect", args=[connection.pk]))
    path, params = _local(start.url)
    denied = client.post(path, {**params, "deny": "1"})
    callback_path, callback_params = _local(denied.url)
    assert callback_params["error"] == "access_denied"
    client.get(callback_path, callback_params)
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.PENDING and "token" not in connection.get_credentials()


def test_finance_cannot_start_a_connection(client, xero):
    user = User.objects.create_user("fiona", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Finance"))
    client.force_login(user)
    connection, _ = xero
    assert client.post(reverse("integrations:connection_connect", args=[connection.pk])).status_code == 403


def test_a_refused_refresh_token_pauses_the_flows_and_alerts(xero, settings):
    """The refresh token was revoked at Xero: the first call that needs a refresh marks the
    connection, pauses its flows and raises one alert."""
    from datetime import datetime, timedelta, timezone

    from connectors.base import ReauthorizationRequired, TokenSet
    from integrations.models import Alert, Flow
    from integrations.services.connections import connection_connected
    from integrations.services.connectors import connector_for
    from tests.factories import make_flow

    connection, tenant = xero
    expired = TokenSet(access_token="expired", refresh_token="revoked-long-ago",
                       expires_at=datetime.now(timezone.utc) - timedelta(minutes=1))
    connection_connected(connection=connection, tokens=expired, tenant_id=str(tenant.tenant_id),
                         tenant_name=tenant.name, tenants=[])
    flow = make_flow(target_connection=connection, enabled=True)

    client = connector_for(connection)
    with pytest.raises(ReauthorizationRequired):
        list(client.list_contacts())

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_REAUTH
    assert not Flow.objects.get(pk=flow.pk).enabled
    assert Alert.objects.filter(kind="needs_reauth", connection=connection).count() == 1
