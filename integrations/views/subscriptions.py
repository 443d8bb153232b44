"""Subscribing a connection to its system's webhooks, from the connection's page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_POST

from connectors.base import ConnectorError
from integrations.models import Connection, CredentialsUnreadable
from integrations.services.webhooks import tims_webhooks_subscribe


@staff_member_required
@require_POST
def connection_webhooks_subscribe(request: HttpRequest, pk: int) -> HttpResponse:
    if not request.user.has_perm("integrations.change_connection"):
        raise PermissionDenied
    connection = get_object_or_404(Connection, pk=pk)
    receiver = request.build_absolute_uri(reverse("integrations:webhook_inbox", args=[connection.pk]))
    try:
        subscription = tims_webhooks_subscribe(connection=connection, receiver_url=receiver, actor=request.user)
    except (ConnectorError, CredentialsUnreadable, ValueError) as exc:
        messages.error(request, f"Could not subscribe {connection.name} to webhooks: {getattr(exc, 'message', exc)}")
    else:
        verb = "Subscribed" if subscription.created else "Kept the subscription of"
        messages.success(request, f"{verb} {connection.name} to {len(subscription.events)} event types at {receiver}; "
                                  "its flows now run when TIMS reports a change, and keep polling as a safety net.")
    return HttpResponseRedirect(reverse("admin:integrations_connection_change", args=[connection.pk]))
