"""Xero's identity endpoints: the consent page, the token endpoint, revocation and
``/connections`` (api-notes §1)."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC
from urllib.parse import urlencode

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sandbox.models import XeroApp, XeroConnection, XeroGrant, XeroTenant
from sandbox.xero import tokens
from sandbox.xero.errors import unauthorized
from sandbox.xero.tokens import OAuthError


def _oauth_error(exc: OAuthError) -> JsonResponse:
    body = {"error": exc.error}
    if exc.description:
        body["error_description"] = exc.description
    return JsonResponse(body, status=exc.status)


def _bad_authorize(request: HttpRequest, message: str) -> HttpResponse:
    # Real Xero drops the user on its dashboard for a bad request (api-notes §1.1); the sandbox
    # says what was wrong instead, and never redirects to an unregistered URI.
    return render(request, "sandbox/xero/authorize_error.html", {"message": message}, status=400)


@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    params = request.GET if request.method == "GET" else request.POST
    app = XeroApp.objects.filter(client_id=params.get("client_id", "")).first()
    if app is None:
        return _bad_authorize(request, "Unknown client_id.")
    if app.app_type != XeroApp.AppType.WEB:
        return _bad_authorize(request, "Custom connections are authorised without this flow.")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in app.redirect_uri_list:
        return _bad_authorize(request, "redirect_uri does not match one registered on the app exactly.")
    if params.get("response_type") != "code":
        return _bad_authorize(request, "response_type must be 'code'.")
    scopes = " ".join(params.get("scope", "").split())
    if not scopes:
        return _bad_authorize(request, "scope is required.")
    state = params.get("state", "")
    tenants = list(XeroTenant.objects.order_by("name"))
    if request.method == "GET":
        return render(
            request,
            "sandbox/xero/authorize.html",
            {
                "app": app,
                "scopes": scopes.split(),
                "tenants": tenants,
                "hidden": {
                    "client_id": app.client_id,
                    "redirect_uri": redirect_uri,
                    "response_type": "code",
                    "scope": scopes,
                    "state": state,
                },
                "user_email": XeroGrant._meta.get_field("user_email").default,
            },
        )
    if "deny" in request.POST:
        return redirect(f"{redirect_uri}?{urlencode({'error': 'access_denied', 'state': state})}")
    chosen = [t for t in tenants if str(t.tenant_id) in request.POST.getlist("tenant")]
    user_email = request.POST.get("user_email") or XeroGrant._meta.get_field("user_email").default
    code = consent_grant(app=app, tenants=chosen, scopes=scopes, redirect_uri=redirect_uri, user_email=user_email)
    return redirect(f"{redirect_uri}?{urlencode({'code': code, 'scope': scopes, 'state': state})}")


def consent_grant(*, app: XeroApp, tenants: list[XeroTenant], scopes: str, redirect_uri: str, user_email: str) -> str:
    """What the consent page does: a grant, a connection per chosen tenant sharing one
    authEventId (api-notes §1.3), and a single-use authorization code."""
    now = timezone.now()
    with transaction.atomic():
        grant = XeroGrant.objects.create(app=app, user_email=user_email, scopes=scopes, auth_event_id=uuid.uuid4())
        for tenant in tenants:
            XeroConnection.objects.update_or_create(
                app=app,
                tenant=tenant,
                user_email=user_email,
                defaults={"auth_event_id": grant.auth_event_id, "updated_at": now},
                create_defaults={"auth_event_id": grant.auth_event_id, "created_at": now, "updated_at": now},
            )
        return tokens.auth_code_create(grant=grant, redirect_uri=redirect_uri)


def _client_from_request(request: HttpRequest) -> XeroApp:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise OAuthError("invalid_client") from exc
    else:
        client_id, client_secret = request.POST.get("client_id", ""), request.POST.get("client_secret", "")
    return tokens.authenticate_client(client_id, client_secret)


@csrf_exempt
@require_http_methods(["POST"])
def token(request: HttpRequest) -> JsonResponse:
    try:
        app = _client_from_request(request)
        grant_type = request.POST.get("grant_type", "")
        if grant_type == "authorization_code":
            issued = tokens.exchange_code(
                app=app, code=request.POST.get("code", ""), redirect_uri=request.POST.get("redirect_uri", "")
            )
        elif grant_type == "refresh_token":
            issued = tokens.refresh(app=app, token=request.POST.get("refresh_token", ""))
        elif grant_type == "client_credentials":
            issued = tokens.client_credentials(app=app)
        else:
            raise OAuthError("unsupported_grant_type")
    except OAuthError as exc:
        return _oauth_error(exc)
    response = JsonResponse(issued.as_response())
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_http_methods(["POST"])
def revocation(request: HttpRequest) -> HttpResponse:
    try:
        app = _client_from_request(request)
    except OAuthError as exc:
        return _oauth_error(exc)
    tokens.revoke(app=app, token=request.POST.get("token", ""))
    return HttpResponse(status=200)


def _xero_datetime(value) -> str:
    # Xero's /connections dates: seven fractional digits, no offset (the spec's own example).
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


def connection_as_json(connection: XeroConnection) -> dict:
    return {
        "id": str(connection.id),
        "authEventId": str(connection.auth_event_id),
        "tenantId": str(connection.tenant.tenant_id),
        "tenantType": connection.tenant.tenant_type,
        "tenantName": connection.tenant.name,
        "createdDateUtc": _xero_datetime(connection.created_at),
        "updatedDateUtc": _xero_datetime(connection.updated_at),
    }


def _bearer_grant(request: HttpRequest):
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    access = tokens.access_token_lookup(header[7:].strip())
    if access is None or access.expires_at <= timezone.now() or access.grant is None or access.grant.revoked_at:
        return None
    return access


@csrf_exempt
@require_http_methods(["GET"])
def connections(request: HttpRequest) -> HttpResponse:
    access = _bearer_grant(request)
    if access is None:
        return unauthorized()
    rows = XeroConnection.objects.filter(app=access.app, user_email=access.grant.user_email).select_related("tenant")
    auth_event_id = request.GET.get("authEventId")
    if auth_event_id:
        try:
            rows = rows.filter(auth_event_id=uuid.UUID(auth_event_id))
        except ValueError:
            rows = rows.none()
    return JsonResponse([connection_as_json(c) for c in rows.order_by("created_at")], safe=False)


@csrf_exempt
@require_http_methods(["DELETE"])
def connection_delete(request: HttpRequest, connection_id: uuid.UUID) -> HttpResponse:
    access = _bearer_grant(request)
    if access is None:
        return unauthorized()
    deleted, _ = XeroConnection.objects.filter(
        id=connection_id, app=access.app, user_email=access.grant.user_email
    ).delete()
    return HttpResponse(status=204 if deleted else 404)
