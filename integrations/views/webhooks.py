"""Webhook endpoints: verify the signature on the raw body, store, answer within the limit."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.models import Connection
from integrations.services.webhooks import webhook_receive


@csrf_exempt
@require_POST
def webhook_inbox(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = get_object_or_404(Connection, pk=connection_id)
    answer = webhook_receive(connection=connection, raw_body=request.body, headers=request.headers)
    # Xero wants an empty body (api-notes/xero.md §3).
    return HttpResponse(status=answer.status)
