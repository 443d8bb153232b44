"""The token endpoint (client credentials, RFC 6749 errors), token expiry and scopes."""

from __future__ import annotations

from base64 import b64encode
from datetime import timedelta

import pytest
from django.utils import timezone

from sandbox.models import TimsAccessToken
from sandbox.tims.services import tims_access_token
from tests.sandbox.tims_support import TimsApi, check_against_contract, problem_type

TOKEN = "/sandbox/tims/acme/oauth/token"
FORM = "application/x-www-form-urlencoded"


def basic(client_id: str, secret: str) -> str:
    return "Basic " + b64encode(f"{client_id}:{secret}".encode()).decode()


def ask(client, body: str, authorization: str | None = None):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = client.post(TOKEN, body, content_type=FORM, **headers)
    sent = {"Content-Type": FORM, **({"Authorization": authorization} if authorization else {})}
    check_against_contract(
        "POST", "/sandbox/tims/acme", TOKEN, "", sent, body.encode(), FORM, response.status_code,
        dict(response.headers), response.content, check_request=response.status_code == 200,
    )
    return response


def test_basic_auth_token_with_requested_scopes(client, tims_client):
    response = ask(client, "grant_type=client_credentials&scope=customers%3Aread%20payments%3Awrite", basic(tims_client.client_id, tims_client.client_secret))
    body = response.json()
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["access_token"].startswith("tims_at_")
    assert body["scope"] == "customers:read payments:write" and "refresh_token" not in body
    assert response["RateLimit-Limit"] == "120"


def test_body_credentials_and_all_scopes_when_omitted(client, tims_client):
    response = ask(client, f"grant_type=client_credentials&client_id={tims_client.client_id}&client_secret={tims_client.client_secret}")
    assert response.status_code == 200 and set(response.json()["scope"].split()) == tims_client.scope_set


def test_only_granted_scopes_are_issued(client, tims_client):
    tims_client.scopes = "customers:read"
    tims_client.save()
    auth = basic(tims_client.client_id, tims_client.client_secret)
    assert ask(client, "grant_type=client_credentials&scope=customers%3Aread%20gl%3Aread", auth).json()["scope"] == "customers:read"
    refused = ask(client, "grant_type=client_credentials&scope=gl%3Aread", auth)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"
    assert ask(client, "grant_type=client_credentials&scope=everything", auth).json()["error"] == "invalid_scope"


@pytest.mark.parametrize(
    ("body", "auth", "status", "error"),
    [
        ("grant_type=client_credentials", "wrong", 401, "invalid_client"),
        ("grant_type=client_credentials", None, 401, "invalid_client"),
        ("grant_type=authorization_code", "right", 400, "unsupported_grant_type"),
        ("scope=customers%3Aread", "right", 400, "invalid_request"),
        ("grant_type=client_credentials&client_id=x&client_secret=y", "right", 400, "invalid_request"),
    ],
)
def test_token_errors_are_rfc_6749(client, tims_client, body, auth, status, error):
    authorization = {"right": basic(tims_client.client_id, tims_client.client_secret), "wrong": basic(tims_client.client_id, "nope"), None: None}[auth]
    response = ask(client, body, authorization)
    assert response.status_code == status and response.json()["error"] == error
    assert response["Content-Type"] == "application/json"
    if auth == "wrong":
        assert response["WWW-Authenticate"] == 'Basic realm="tims"'


def test_issued_token_works_and_expires(client, tims_site, tims_client):
    token = ask(client, "grant_type=client_credentials&scope=customers%3Aread", basic(tims_client.client_id, tims_client.client_secret)).json()["access_token"]
    api = TimsApi(client, tims_site.code, token)
    assert api.get("/api/v1/customers").status_code == 200
    TimsAccessToken.objects.filter(token=token).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = api.get("/api/v1/customers")
    assert expired.status_code == 401 and problem_type(expired) == "unauthorized"
    assert 'error="invalid_token"' in expired["WWW-Authenticate"] and expired["RateLimit-Limit"]


def test_missing_and_revoked_tokens(tims, tims_client):
    assert problem_type(tims.get("/api/v1/customers", token="")) == "unauthorized"
    assert tims.get("/api/v1/customers", token="tims_at_forged").status_code == 401
    tims_client.is_active = False
    tims_client.save()
    assert tims.get("/api/v1/customers").status_code == 401


def test_scope_is_enforced_per_operation(client, tims_site, tims_client):
    reader = TimsApi(client, tims_site.code, tims_access_token(client=tims_client, scopes="customers:read")["access_token"])
    assert reader.get("/api/v1/customers").status_code == 200
    write = reader.post("/api/v1/customers", {"name": "No", "currency": "GBP"})
    assert write.status_code == 403 and problem_type(write) == "insufficient-scope"
    assert problem_type(reader.get("/api/v1/gl/accounts")) == "insufficient-scope"
    assert problem_type(reader.patch("/api/v1/salesorders/so_x/external-refs", {"xero": "1"})) == "insufficient-scope"
