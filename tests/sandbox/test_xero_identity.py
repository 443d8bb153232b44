"""OAuth 2.0 as Xero does it (api-notes §1): consent page, code exchange with Basic auth,
30-minute access tokens, rotating refresh tokens with a grace period, client credentials,
/connections."""

from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from django.utils import timezone

from sandbox.models import XeroRefreshToken
from sandbox.xero.services import xero_app_create, xero_tenant_create

TOKEN = "/sandbox/xero/identity/connect/token"


def basic(app) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{app.client_id}:{app.client_secret}".encode()).decode()}


def authorize(client, app, tenant, scope="openid offline_access accounting.transactions accounting.contacts"):
    params = {"response_type": "code", "client_id": app.client_id, "redirect_uri": "http://localhost/callback", "scope": scope, "state": "xyz"}
    page = client.get("/sandbox/xero/identity/connect/authorize", params)
    assert page.status_code == 200 and tenant.name in page.content.decode()
    consent = client.post("/sandbox/xero/identity/connect/authorize", {**params, "tenant": [str(tenant.tenant_id)], "allow": "1"})
    assert consent.status_code == 302
    query = parse_qs(urlsplit(consent["Location"]).query)
    assert consent["Location"].startswith("http://localhost/callback?") and query["state"] == ["xyz"]
    return query["code"][0]


def test_authorization_code_flow(client, xero_app, tenant):
    code = authorize(client, xero_app, tenant)
    answer = client.post(TOKEN, {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://localhost/callback"}, **basic(xero_app))
    tokens = answer.json()
    assert answer.status_code == 200 and tokens["expires_in"] == 1800 and tokens["token_type"] == "Bearer"
    assert tokens["refresh_token"] and tokens["id_token"].count(".") == 2
    again = client.post(TOKEN, {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://localhost/callback"}, **basic(xero_app))
    assert again.status_code == 400 and again.json() == {"error": "invalid_grant"}
    connections = client.get("/sandbox/xero/connections", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").json()
    assert [c["tenantId"] for c in connections] == [str(tenant.tenant_id)]
    assert connections[0]["tenantType"] == "ORGANISATION" and connections[0]["authEventId"]
    api = client.get("/sandbox/xero/api.xro/2.0/Contacts", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}", HTTP_XERO_TENANT_ID=str(tenant.tenant_id))
    assert api.status_code == 200


def test_bad_redirect_uri_and_secret(client, xero_app, tenant):
    page = client.get("/sandbox/xero/identity/connect/authorize", {"response_type": "code", "client_id": xero_app.client_id, "redirect_uri": "http://evil/cb", "scope": "openid"})
    assert page.status_code == 400
    wrong = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{xero_app.client_id}:nope".encode()).decode()}
    assert client.post(TOKEN, {"grant_type": "client_credentials"}, **wrong).json() == {"error": "invalid_client"}


def test_no_offline_access_no_refresh_token(client, xero_app, tenant):
    code = authorize(client, xero_app, tenant, scope="accounting.contacts")
    tokens = client.post(TOKEN, {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://localhost/callback"}, **basic(xero_app)).json()
    assert "refresh_token" not in tokens


def test_refresh_rotates_with_grace_then_invalid_grant(client, xero_app, token_set):
    old = token_set["refresh_token"]
    first = client.post(TOKEN, {"grant_type": "refresh_token", "refresh_token": old}, **basic(xero_app)).json()
    assert first["refresh_token"] != old
    # The answer may have been lost: the old token still works for 30 minutes, with the same pair.
    replay = client.post(TOKEN, {"grant_type": "refresh_token", "refresh_token": old}, **basic(xero_app)).json()
    assert replay["refresh_token"] == first["refresh_token"] and replay["access_token"] == first["access_token"]
    XeroRefreshToken.objects.filter(token=old).update(rotated_at=timezone.now() - timedelta(minutes=31))
    late = client.post(TOKEN, {"grant_type": "refresh_token", "refresh_token": old}, **basic(xero_app))
    assert late.status_code == 400 and late.json() == {"error": "invalid_grant"}
    newer = client.post(TOKEN, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, **basic(xero_app))
    assert newer.status_code == 200


def test_client_credentials_for_custom_connection(client, db):
    tenant = xero_tenant_create(name="Custom Org")
    app = xero_app_create(name="Custom", custom_connection_tenant=tenant)
    answer = client.post(TOKEN, {"grant_type": "client_credentials"}, **basic(app)).json()
    assert "refresh_token" not in answer and answer["expires_in"] == 1800
    # No xero-tenant-id needed: the connection is bound to one organisation (api-notes §1.5).
    response = client.get("/sandbox/xero/api.xro/2.0/Organisation", HTTP_AUTHORIZATION=f"Bearer {answer['access_token']}", HTTP_ACCEPT="application/json")
    assert response.json()["Organisations"][0]["OrganisationID"] == str(tenant.tenant_id)
    web = xero_app_create(name="Web", redirect_uris=["http://localhost/cb"])
    assert client.post(TOKEN, {"grant_type": "client_credentials"}, **basic(web)).json() == {"error": "unauthorized_client"}


def test_delete_connection_then_403(client, xero, token_set):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {xero.token}"}
    connection = client.get("/sandbox/xero/connections", **auth).json()[0]
    assert client.delete(f"/sandbox/xero/connections/{connection['id']}", **auth).status_code == 204
    assert client.get("/sandbox/xero/connections", **auth).json() == []
    assert xero.get("/Contacts", spec=False).status_code == 403


def test_missing_scope_is_401_authorization_unsuccessful(client, xero_app, tenant):
    code = authorize(client, xero_app, tenant, scope="offline_access accounting.contacts")
    tokens = client.post(TOKEN, {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://localhost/callback"}, **basic(xero_app)).json()
    response = client.get("/sandbox/xero/api.xro/2.0/Invoices", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}", HTTP_XERO_TENANT_ID=str(tenant.tenant_id), HTTP_ACCEPT="application/json")
    assert response.status_code == 401 and response.json()["Detail"] == "AuthorizationUnsuccessful"


def test_revocation_removes_connections(client, xero_app, token_set):
    assert client.post("/sandbox/xero/identity/connect/revocation", {"token": token_set["refresh_token"]}, **basic(xero_app)).status_code == 200
    assert client.get("/sandbox/xero/connections", HTTP_AUTHORIZATION=f"Bearer {token_set['access_token']}").status_code == 401
