"""The consent round trip: the admin's "Connect" button and the OAuth callback."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse

from connectors.base import ConnectorError
from integrations.models import AuthKind, Connection, CredentialsUnreadable
from integrations.oauth import ConnectError, connection_connect_client_credentials, connection_finish, oauth_for

SESSION_KEY = "oauth_pending"


def _change_url(connection: Connection) -> str:
    return reverse("admin:integrations_connection_change", args=[connection.pk])


def _require_change(request: HttpRequest) -> None:
    if not request.user.has_perm("integrations.change_connection"):
        raise PermissionDenied


@staff_member_required
def connection_connect(request: HttpRequest, pk: int) -> HttpResponse:
    _require_change(request)
    if request.method != "POST":
        raise PermissionDenied  # state-changing; the button posts with a CSRF token
    connection = get_object_or_404(Connection, pk=pk)
    try:
        if connection.auth_kind == AuthKind.OAUTH2_CLIENT_CREDENTIALS:
            connection_connect_client_credentials(connection, actor=request.user)
            messages.success(request, f"{connection.name} is connected.")
            return HttpResponseRedirect(_change_url(connection))
        oauth = oauth_for(connection, redirect_uri=request.build_absolute_uri(reverse("integrations:oauth_callback")))
        url, state = oauth.authorization_url()
    except (ConnectError, CredentialsUnreadable, ConnectorError) as exc:
        messages.error(request, f"Could not connect {connection.name}: {getattr(exc, 'message', exc)}")
        return HttpResponseRedirect(_change_url(connection))
    pending = request.session.get(SESSION_KEY, {})
    pending[state] = connection.pk
    request.session[SESSION_KEY] = pending
    return HttpResponseRedirect(url)


@staff_member_required
def oauth_callback(request: HttpRequest) -> HttpResponse:
    _require_change(request)
    state = request.GET.get("state", "")
    pending = request.session.get(SESSION_KEY, {})
    pk = pending.pop(state, None)
    request.session[SESSION_KEY] = pending
    if pk is None:
        messages.error(request, "That authorisation answer was not expected (stale or forged); start again with Connect.")
        return HttpResponseRedirect(reverse("admin:integrations_connection_changelist"))
    connection = get_object_or_404(Connection, pk=pk)
    if "error" in request.GET:
        messages.error(request, f"{connection.name} was not connected: {request.GET.get('error_description') or request.GET['error']}.")
        return HttpResponseRedirect(_change_url(connection))
    try:
        oauth = oauth_for(connection, redirect_uri=request.build_absolute_uri(reverse("integrations:oauth_callback")))
        tokens = oauth.exchange_code(request.GET.get("code", ""), state=state, expected_state=state)
        connection = connection_finish(connection, oauth, tokens, actor=request.user)
    except (ConnectError, CredentialsUnreadable, ConnectorError) as exc:
        messages.error(request, f"Could not connect {connection.name}: {getattr(exc, 'message', exc)}")
        return HttpResponseRedirect(_change_url(connection))
    messages.success(request, f"{connection.name} is connected to {connection.tenant_name or connection.tenant_id}.")
    return HttpResponseRedirect(_change_url(connection))
